# Set-up and entry points. `make demo` and `make test` each do all the set-up they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench-pie bench-server

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The main job on the examples, with the default model (fetched, verified and converted once).
# It works on a copy in .demo/ so the examples stay as they are; add --apply to write the result.
demo: setup
	$(BIN)/perfedit model pull qwen2.5-coder-0.5b
	rm -rf .demo && cp -r examples .demo
	$(BIN)/perfedit suggest .demo/dedupe/dedupe.py --function unique_in_order
	$(BIN)/perfedit suggest .demo/script/seen_before.py

# The test suite; the end-to-end tests load the small SmolLM2-135M model for real.
test: setup
	$(BIN)/perfedit model pull smollm2-135m
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check server tests bench

bench-pie: setup
	$(BIN)/perfedit model pull qwen2.5-coder-0.5b
	$(BIN)/python bench/pie_val.py --data ../shared/data/pie --programs 30

bench-server: setup
	$(BIN)/perfedit model pull qwen2.5-coder-0.5b
	$(BIN)/python bench/server.py
