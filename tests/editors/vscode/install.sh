#!/usr/bin/env bash
# Installs what the VS Code end-to-end test runs (code-server, playwright-core) from the committed
# package-lock.json, with no download outside the npm registry:
#   - code-server's postinstall builds VS Code's native modules (kerberos needs Debian's
#     libkrb5-dev; node-gyp takes Node's headers from `nodedir`);
#   - @vscode/ripgrep's postinstall downloads rg from GitHub unless its cache holds the archive:
#     the cache is seeded with Debian's /usr/bin/rg (package ripgrep).
# Needs Node 20 (code-server 4.100 requires it). Run by `make vscode-e2e-deps`.
set -euo pipefail
cd "$(dirname "$0")"

RIPGREP_PACKAGE=1.15.11                              # @vscode/ripgrep in code-server 4.100.3's VS Code
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz  # what its postinstall looks for

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/vscode-ripgrep-cache-$RIPGREP_PACKAGE" "$tmp/rg"
cp "$(command -v rg)" "$tmp/rg/rg"
tar -czf "$tmp/vscode-ripgrep-cache-$RIPGREP_PACKAGE/$RIPGREP_ASSET" -C "$tmp/rg" rg

export TMPDIR="$tmp" npm_config_unsafe_perm=true
export npm_config_yes=true  # node-pty's postinstall runs `npx node-gyp`, from the npm registry
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_version.h ]; then
  export npm_config_nodedir=/usr  # Node's own headers: node-gyp would download them otherwise
fi
npm ci --no-audit --no-fund
