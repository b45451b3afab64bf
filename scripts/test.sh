#!/usr/bin/env bash
# Install what the tests need into .venv, then run ruff, mypy (strict) and pytest.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test,bench]'
if [ -f .ci/e2e-setup.sh ]; then bash .ci/e2e-setup.sh; fi
if [ -f .ci/secret-service-setup.sh ]; then bash .ci/secret-service-setup.sh; fi
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
ruff format --check .
mypy
pytest -q -p no:randomly "$@"
