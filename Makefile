# Set-up and entry points. `make demo` and `make test` each do all the set-up they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORE_STAMP := $(VENV)/.installed-core

.PHONY: system-libs setup setup-core demo test lint settings lsp-initialize bench-pie bench-server bench-ablation
.PHONY: editors vsix client-test vscode-e2e-deps test-neovim test-vscode

# GCC's OpenMP runtime (libgomp.so.1), which the engine's Linux wheel links but does not ship:
# a minimal Debian or Ubuntu lacks it, so apt-get installs it there (elsewhere `perfedit doctor`
# names the package). Looked up as the engine's loader does, on every run (it takes milliseconds).
system-libs:
	@[ "$$(uname -s)" != Linux ] || $(PYTHON) -c "import ctypes; ctypes.CDLL('libgomp.so.1')" 2>/dev/null || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends libgomp1; }

# The core (what `pip install perfedit` brings: prebuilt wheels only, nothing compiled), then the
# development tools and every extra (train, ray) that the test suite covers.
$(CORE_STAMP): pyproject.toml | system-libs
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(CORE_STAMP)

$(STAMP): $(CORE_STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup-core: $(CORE_STAMP)

setup: $(STAMP)

# The main job on the examples, with the default model (fetched and verified once).
# It works on a copy in .demo/ so the examples stay as they are; add --apply to write the result.
demo: setup-core
	$(BIN)/perfedit model pull qwen2.5-coder-1.5b
	rm -rf .demo && cp -r examples .demo
	$(BIN)/perfedit suggest .demo/dedupe/dedupe.py --function unique_in_order
	$(BIN)/perfedit suggest .demo/script/seen_before.py

# The test suite; the end-to-end tests load the small SmolLM2-135M model for real. It includes
# the editor end-to-end tests (real Neovim, real VS Code), so it first builds the extension, runs
# its unit tests and installs what those tests drive. The type check (mypy) runs first.
test: setup editors client-test
	$(BIN)/perfedit model pull smollm2-135m
	$(BIN)/mypy
	$(BIN)/python -m pytest

# ruff, mypy on server/perfedit and import-linter's layers (all configured in pyproject.toml).
lint: setup
	$(BIN)/ruff check server tests bench
	$(BIN)/ruff format --check server tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The settings reference (docs/configuration.md, the extension's package.json) from perfedit/config.py.
settings: setup
	$(BIN)/python -m perfedit.cli.config_docs

# The answer to `initialize` that `perfedit lsp` sends before pygls is imported
# (server/perfedit/lsp/initialize_result.json), from the live server: after changing the server's
# features or upgrading pygls or lsprotocol (tests/test_lsp_initialize.py fails until then).
lsp-initialize: setup
	$(BIN)/python -m perfedit.lsp.initialize_result

bench-pie: setup
	$(BIN)/perfedit model pull qwen2.5-coder-1.5b
	$(BIN)/python bench/pie_val.py --data ../shared/data/pie --programs 30

bench-ablation: setup
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/perfedit model pull qwen2.5-coder-1.5b
	$(BIN)/python bench/ablation.py pie --data ../shared/data/pie --programs 30
	$(BIN)/python bench/ablation.py enamel --data ../shared/data/enamel --programs 20

bench-server: setup
	$(BIN)/perfedit model pull qwen2.5-coder-1.5b
	$(BIN)/python bench/server.py

# ---- editors: the VS Code extension (client-vscode/) and the editor end-to-end tests ----------
# Stamps make re-runs fast: each step runs again only when its inputs change.
CLIENT := client-vscode
VSIX := $(CLIENT)/perfedit.vsix
CLIENT_STAMP := $(CLIENT)/node_modules/.installed
E2E_VSCODE := tests/editors/vscode
E2E_STAMP := $(E2E_VSCODE)/node_modules/.installed
APT_STAMP := .stamps/editor-apt
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages: Chromium (driven by playwright-core), ripgrep (VS Code's search binary, which
# @vscode/ripgrep would download), libkrb5-dev and build tools (code-server's native modules).
$(APT_STAMP):
	dpkg -s chromium ripgrep libkrb5-dev build-essential >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends chromium ripgrep libkrb5-dev build-essential; }
	mkdir -p $(dir $@) && touch $@

$(CLIENT_STAMP): $(CLIENT)/package-lock.json
	cd $(CLIENT) && npm ci --no-audit --no-fund
	touch $@

$(VSIX): $(CLIENT_STAMP) $(CLIENT)/package.json $(CLIENT)/tsconfig.json $(CLIENT)/README.md $(CLIENT)/.vscodeignore $(wildcard $(CLIENT)/src/*.ts)
	cd $(CLIENT) && npm run package

$(E2E_STAMP): $(E2E_VSCODE)/package-lock.json $(E2E_VSCODE)/install.sh $(APT_STAMP)
	$(E2E_VSCODE)/install.sh
	touch $@

vsix: $(VSIX)

client-test: $(CLIENT_STAMP)
	cd $(CLIENT) && npm test

vscode-e2e-deps: $(E2E_STAMP)

editors: $(VSIX) $(E2E_STAMP)

test-neovim: setup
	$(BIN)/perfedit model pull smollm2-135m
	$(BIN)/python -m pytest tests/test_editor_neovim_e2e.py

test-vscode: setup editors
	$(BIN)/perfedit model pull smollm2-135m
	$(BIN)/python -m pytest tests/test_editor_vscode_e2e.py
