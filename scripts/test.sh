#!/usr/bin/env bash
# Install what the tests need into .venv, then run ruff, mypy (strict) and pytest (four workers,
# pytest-xdist) on the default python3; then, with no arguments, a fast subset of the tests that
# covers every module on the oldest and the newest supported Python (.ci/pythons.sh) and, beside
# those, the release check (.ci/package.sh: sdist and wheel built, twine-checked, installed into a fresh venv and used)
# and the documentation site (.ci/docs.sh: mkdocs build --strict).
# This is the README's test command; .ci/run calls exactly this.
# Arguments go to pytest and make it a focused run: the default python3 only, nothing after it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive
python3 -m venv .venv
# -qq: errors only (no notices from pip's configured indexes, no build-backend chatter)
.venv/bin/python -m pip install -qq --upgrade pip
.venv/bin/python -m pip install -qq -e '.[test,bench]'
if [ -f .ci/e2e-setup.sh ]; then bash .ci/e2e-setup.sh; fi
if [ -f .ci/secret-service-setup.sh ]; then bash .ci/secret-service-setup.sh; fi
if [ -f .ci/mcp-setup.sh ]; then bash .ci/mcp-setup.sh; fi
export PATH="$PWD/.venv/bin:$PATH"
# one line per stage, with the seconds since the start (CI must stay under 15 minutes)
stage() { echo "test.sh: $1 at ${SECONDS}s" >&2; }
stage "installed"
ruff check .
ruff format --check .
mypy
stage "linted and type-checked"
# Four workers on two cores: the tests mostly wait (loopback servers, browsers, subprocesses);
# the suite took 236 s on a quiet machine where two workers took 451 s.
pytest -q -p no:randomly -n "${PYTEST_WORKERS:-4}" "$@"
if [ $# -eq 0 ]; then
    stage "the suite passed on $(python --version)"
    # The release check and the documentation build start no test servers and need little CPU
    # of their own, while the other Pythons' tests mostly wait: they run beside those, one
    # after the other (both use .venv), their output shown once they are done.
    side_log="$(mktemp)"
    (bash .ci/package.sh && bash .ci/docs.sh) >"$side_log" 2>&1 &
    side=$!
    trap 'kill "$side" 2>/dev/null || true; rm -f "$side_log"' EXIT
    bash .ci/pythons.sh
    stage "the oldest and the newest Python passed"
    side_status=0
    wait "$side" || side_status=$?
    cat "$side_log" >&2
    if [ "$side_status" -ne 0 ]; then
        echo "test.sh: the release check or the documentation build failed (output above)" >&2
        exit "$side_status"
    fi
    stage "the release check and the documentation site passed: done"
fi
