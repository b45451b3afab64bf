#!/usr/bin/env bash
# Build the documentation site with warnings as errors, so that a renamed function, a broken
# link or a page missing from the navigation fails here rather than for the reader.
# Installs the `docs` extra into .venv (the one scripts/test.sh makes). The site goes to
# $DOCS_SITE_DIR when set (to publish it), else to a temporary directory removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 NO_MKDOCS_2_WARNING=1
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -qq -e '.[docs]'  # errors only, as scripts/test.sh
# The supported Pythons are claimed in three places; they must agree.
floor="$(sed -n 's/^requires-python = ">=\([0-9.]*\)".*/\1/p' pyproject.toml)"
for page in README.md docs/index.md; do
    if ! grep -q "Python ${floor} or newer" "$page"; then
        echo "docs: $page does not say \"Python ${floor} or newer\" (requires-python is >=${floor})" >&2
        exit 1
    fi
done
site="${DOCS_SITE_DIR:-}"
if [ -z "$site" ]; then
    site="$(mktemp -d)"
    trap 'rm -rf "$site"' EXIT
fi
.venv/bin/mkdocs build --strict --clean --site-dir "$site"
echo "docs: built $(find "$site" -name '*.html' | wc -l) pages into $site"
