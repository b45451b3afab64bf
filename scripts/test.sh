#!/usr/bin/env bash
# Install what the tests need into .venv, then run ruff, mypy (strict) and pytest (two workers,
# pytest-xdist) on the default python3; then, with no arguments, the tests on the oldest and the
# newest supported Python (.ci/pythons.sh) and the release check (.ci/package.sh: sdist and
# wheel built, twine-checked, installed into a fresh venv and used).
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
export PATH="$PWD/.venv/bin:$PATH"
# one line per stage, with the seconds since the start (CI must stay under 15 minutes)
stage() { echo "test.sh: $1 at ${SECONDS}s" >&2; }
stage "installed"
ruff check .
ruff format --check .
mypy
stage "linted and type-checked"
pytest -q -p no:randomly -n "${PYTEST_WORKERS:-2}" "$@"
if [ $# -eq 0 ]; then
    stage "the suite passed on $(python --version)"
    bash .ci/pythons.sh
    stage "the oldest and the newest Python passed"
    bash .ci/package.sh
    stage "done"
fi
