#!/usr/bin/env bash
# The release, one command away: build the sdist and the wheel (the wheel from the sdist, as
# `python -m build` does by default), `twine check --strict` both, check that the wheel holds
# every module of the source tree and py.typed, then install the wheel into a fresh venv, away
# from the source tree, and use it as a person would:
#   1. the wheel alone (no extras): import the package, `stytch-connected --version`;
#   2. with every extra (httpie, httpx, httpx2, mcp) and pytest: import every module (but
#      __main__), load every entry point the distribution declares (console script, HTTPie auth
#      plugins, pytest plugin), and see `http --help` offer -A stytch and -A oauth2.
# Usage: bash .ci/package.sh [PYTHON]   (PYTHON: the interpreter with build and twine installed,
# default .venv/bin/python; the fresh venv is made with the same interpreter). Fails loudly.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${1:-$repo_root/.venv/bin/python}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() {
    echo "package: $*" >&2
    exit 1
}

# build prints every file it copies; keep its output for when it fails.
if ! "$python" -m build --outdir "$work/dist" "$repo_root" >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    fail "python -m build failed (its output is above)"
fi
shopt -s nullglob
sdists=("$work"/dist/*.tar.gz)
wheels=("$work"/dist/*.whl)
[[ ${#sdists[@]} -eq 1 && ${#wheels[@]} -eq 1 ]] || fail "expected one sdist and one wheel"
"$python" -m twine check --strict "${sdists[0]}" "${wheels[0]}" >"$work/twine.log" 2>&1 || {
    cat "$work/twine.log" >&2
    fail "twine check failed (its output is above)"
}

# Every tracked module (and py.typed) is in the wheel and in the sdist.
(cd "$repo_root" && git ls-files -- 'httpie_stytch_connected/*.py' 'httpie_stytch_connected/py.typed') \
    >"$work/tracked.txt"
"$python" - "${wheels[0]}" "${sdists[0]}" "$work/tracked.txt" <<'EOF'
import sys
import tarfile
import zipfile

wheel, sdist, tracked_list = sys.argv[1:]
with open(tracked_list) as f:
    tracked = {line.strip() for line in f if line.strip()}
in_wheel = set(zipfile.ZipFile(wheel).namelist())
with tarfile.open(sdist) as tar:
    # sdist members are "<name>-<version>/<path>"
    in_sdist = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
missing = sorted((tracked - in_wheel) | {f"sdist:{p}" for p in tracked - in_sdist})
if missing:
    sys.exit("package: missing from the distributions: " + ", ".join(missing))
EOF

venv="$work/venv"
"$python" -m venv "$venv"
cd "$work" # not the source tree: the import must find the installed copy
"$venv/bin/python" -m pip install -qq "${wheels[0]}"
"$venv/bin/python" - <<'EOF'
import sys
from importlib.metadata import version

import httpie_stytch_connected as pkg

if not pkg.__file__ or not pkg.__file__.startswith(sys.prefix):
    sys.exit(f"package: imported from {pkg.__file__}, not from the fresh venv")
if pkg.__version__ != version("httpie-stytch-connected"):
    sys.exit("package: __version__ and the wheel's metadata disagree")
EOF
expected="stytch-connected $("$venv/bin/python" -c 'import httpie_stytch_connected as p; print(p.__version__)')"
got="$("$venv/bin/stytch-connected" --version)"
[[ "$got" == "$expected" ]] || fail "stytch-connected --version printed '$got', expected '$expected'"

# Every extra, so that every module (testing/mcp_server.py needs the mcp extra) imports.
"$venv/bin/python" -m pip install -qq "${wheels[0]}[httpie,httpx,httpx2,mcp]" pytest
"$venv/bin/python" - <<'EOF'
import importlib
import pkgutil
import sys
from importlib.metadata import distribution

import httpie_stytch_connected as pkg

for module in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
    if not module.name.endswith(".__main__"):  # runs the command line when imported
        importlib.import_module(module.name)
dist = distribution("httpie-stytch-connected")
groups = {(ep.group, ep.name) for ep in dist.entry_points}
wanted = {
    ("console_scripts", "stytch-connected"),
    ("httpie.plugins.auth.v1", "stytch"),
    ("httpie.plugins.auth.v1", "oauth2"),
    ("pytest11", "stytch_connected"),
}
if not wanted <= groups:
    sys.exit(f"package: entry points missing from the wheel: {sorted(wanted - groups)}")
for ep in dist.entry_points:
    ep.load()
EOF
help="$("$venv/bin/http" --help)"
for auth in stytch oauth2; do
    grep -q "\"$auth\": .*(provided by httpie-stytch-connected)" <<<"$help" ||
        fail "http --help does not offer -A $auth from the installed wheel"
done
echo "package: ok ($(basename "${sdists[0]}"), $(basename "${wheels[0]}"))" >&2
