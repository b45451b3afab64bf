#!/usr/bin/env bash
# Run the tests again on the oldest and the newest Python that pyproject.toml claims (its
# "Programming Language :: Python :: 3.N" classifiers; the oldest must match requires-python).
# scripts/test.sh has already run the whole suite on the default python3.
#
# Each Python gets its own venv, .venv-3.N, with the package installed editable plus the test
# extra, and runs the fast subset of the suite that covers every module of the package:
#   - every test folder except tests/e2e (Chromium and the independent OpenID provider),
#     tests/properties (faults, crashes, hostile input, concurrency storms: the same modules'
#     code under many inputs), the MCP conformance suite (a Node program against our client) and
#     the Secret Service tests (gnome-keyring on D-Bus: keyring's backend, our store's code is
#     the test keyring's);
#   - each wire test, written once and parametrized over tests.adapters.ADAPTERS, through
#     requests and httpx's AsyncClient only (--adapters). The httpx family's own tests
#     (tests/adapters/test_httpx.py) still run every client of httpx and httpx2, sync and async,
#     and HTTPie's plugin keeps its own test files.
# The default python3 has already run the whole suite (scripts/test.sh). The subset is a little
# over half of the suite's test time; with it the CI run stays under 15 minutes on two cores.
# Then every module of the package is imported on that Python, __main__ modules excepted.
#
# Four pytest-xdist workers by default (PYTHONS_WORKERS): these tests mostly wait (on loopback
# servers, subprocesses, lock and keyring timeouts), so four workers on two cores use the CPU
# that two leave idle.
#
# Finding a Python 3.N: `python3.N` on PATH, then pyenv's versions ($PYENV_ROOT, default
# ~/.pyenv), then /usr/local/bin and /usr/bin; each candidate must run and report 3.N.
# A claimed Python that is not found fails the run under CI (CI=true, or REQUIRE_PYTHONS=1): we
# test what we claim. Elsewhere it is skipped with a warning, so that a developer with only one
# Python can still run scripts/test.sh.
#
# Usage: bash .ci/pythons.sh [PYTEST_ARGS...]   (default: the fast subset above, -n 4)
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

say() { echo "pythons: $*" >&2; }

claimed="$(sed -n 's/^ *"Programming Language :: Python :: \(3\.[0-9]*\)",$/\1/p' pyproject.toml | sort -V)"
oldest="$(head -n 1 <<<"$claimed")"
newest="$(tail -n 1 <<<"$claimed")"
if [[ -z "$oldest" ]]; then
    say "no 'Programming Language :: Python :: 3.N' classifier in pyproject.toml"
    exit 1
fi
grep -q "^requires-python = \">=$oldest\"$" pyproject.toml || {
    say "requires-python in pyproject.toml is not \">=$oldest\", the oldest classifier"
    exit 1
}

find_python() {
    local want="$1" candidate
    local candidates=("python$want")
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    if [[ -d "$pyenv_root/versions" ]]; then
        # newest patch release first
        while IFS= read -r dir; do
            candidates+=("$dir/bin/python$want")
        done < <(find "$pyenv_root/versions" -maxdepth 1 -name "$want.*" | sort -rV)
    fi
    candidates+=("/usr/local/bin/python$want" "/usr/bin/python$want")
    for candidate in "${candidates[@]}"; do
        # A pyenv shim for a version that is not selected exists but fails: run each one.
        if "$candidate" -c "import sys, venv; sys.exit('%d.%d' % sys.version_info[:2] != '$want')" \
            >/dev/null 2>&1; then
            "$candidate" -c 'import sys; print(sys.executable)'
            return 0
        fi
    done
    return 1
}

strict=0
if [[ "${CI:-}" == "true" || "${REQUIRE_PYTHONS:-}" == "1" ]]; then strict=1; fi
args=("$@")
if [[ ${#args[@]} -eq 0 ]]; then
    args=(-n "${PYTHONS_WORKERS:-4}" tests --ignore=tests/e2e --ignore=tests/properties
        --ignore=tests/mcp/test_conformance.py --ignore=tests/storage/test_secret_service.py
        --adapters=requests,AsyncClient)
fi

for version in $(printf '%s\n' "$oldest" "$newest" | uniq); do
    if ! python="$(find_python "$version")"; then
        if [[ $strict -eq 1 ]]; then
            say "Python $version is claimed in pyproject.toml but was not found (python$version on" \
                "PATH, ${PYENV_ROOT:-$HOME/.pyenv}/versions/$version.*, /usr/local/bin, /usr/bin)"
            exit 1
        fi
        say "WARNING: Python $version not found; its tests are skipped (CI fails on this)"
        continue
    fi
    venv=".venv-$version"
    say "Python $version: $python, $venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -qq -e '.[test]'
    PATH="$repo_root/$venv/bin:$PATH" "$venv/bin/python" -m pytest -q -p no:randomly "${args[@]}"
    "$venv/bin/python" - <<'EOF'
import importlib
import pkgutil

import httpie_stytch_connected as pkg

for module in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
    if not module.name.endswith(".__main__"):  # runs the command line when imported
        importlib.import_module(module.name)
EOF
done
