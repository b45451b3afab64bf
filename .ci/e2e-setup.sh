#!/usr/bin/env bash
# Install what the end-to-end tests need on a fresh Debian 12 machine (run as root):
# Debian's Chromium (driven by the PyPI playwright package; never `playwright install`)
# and the oidc-provider test peer's npm packages from its lockfile. Idempotent, quiet,
# fails loudly.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

if [[ ! -x /usr/bin/chromium ]]; then
    echo "e2e-setup: installing chromium (apt)" >&2
    bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" chromium
fi
/usr/bin/chromium --version >/dev/null 2>&1 || {
    echo "e2e-setup: /usr/bin/chromium does not run" >&2
    exit 1
}

command -v node >/dev/null || { echo "e2e-setup: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "e2e-setup: npm is not installed" >&2; exit 1; }

provider_dir="$repo_root/e2e/oidc-provider"
# npm ci: exactly the lockfile, node_modules recreated each run (about 2 s).
npm ci --prefix "$provider_dir" --no-audit --no-fund --loglevel=error >/dev/null
test -d "$provider_dir/node_modules/oidc-provider" || {
    echo "e2e-setup: npm ci did not install oidc-provider" >&2
    exit 1
}
echo "e2e-setup: ok" >&2
