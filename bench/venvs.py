"""Two venvs that differ only by our plugin, cached under ``bench/``.

- ``.venv-baseline``: HTTPie alone.
- ``.venv-plugin``: HTTPie + this package (a regular, non-editable install of the current tree,
  as users get it; reinstalled when the sources change).

Both are pinned to the versions in the development venv (``pip freeze`` as constraints), so the
only difference is our distribution and its dependencies. ``/work/venv`` is not used for the
start-up ratio: it holds dozens of extra distributions (pytest, mypy, ...) whose metadata
HTTPie's entry-point scan reads on every run.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import BENCH_DIR, REPO, log

PACKAGE = "httpie_stytch_connected"


def _httpie_version() -> str:
    from importlib.metadata import version

    return version("httpie")


def _constraints(directory: Path) -> Path:
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = [
        line
        for line in frozen.splitlines()
        if line and not line.startswith("-e") and " @ " not in line and "stytch" not in line
    ]
    path = directory / "constraints.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _source_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted((REPO / PACKAGE).rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    digest.update((REPO / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:16]


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _pip(venv: Path, *args: str) -> None:
    subprocess.run(
        [str(_python(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        check=True,
    )


def _create(venv: Path) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)


def baseline_venv() -> Path:
    """HTTPie only; returns the venv's python."""
    venv = BENCH_DIR / ".venv-baseline"
    stamp = venv / ".bench-stamp"
    want = f"httpie=={_httpie_version()}"
    if stamp.exists() and stamp.read_text() == want:
        return _python(venv)
    log(f"creating {venv} ({want}) ...")
    _create(venv)
    with tempfile.TemporaryDirectory() as tmp:
        _pip(venv, "-c", str(_constraints(Path(tmp))), want)
    stamp.write_text(want)
    return _python(venv)


def plugin_venv() -> Path:
    """HTTPie + this package (regular install from a copy of the tree); returns its python."""
    venv = BENCH_DIR / ".venv-plugin"
    stamp = venv / ".bench-stamp"
    want = f"httpie=={_httpie_version()} {PACKAGE}@{_source_hash()}"
    if stamp.exists() and stamp.read_text() == want:
        return _python(venv)
    log(f"creating {venv} ({want}) ...")
    fresh = not stamp.exists() or stamp.read_text().split()[0] != want.split()[0]
    if fresh:
        _create(venv)
    with tempfile.TemporaryDirectory() as tmp:
        # Build from a copy: an in-tree build would write build/ and *.egg-info into the repo.
        copy = Path(tmp) / "src"
        copy.mkdir()
        shutil.copy2(REPO / "pyproject.toml", copy / "pyproject.toml")
        shutil.copytree(
            REPO / PACKAGE, copy / PACKAGE, ignore=shutil.ignore_patterns("__pycache__")
        )
        readme = REPO / "README.md"
        (copy / "README.md").write_text(readme.read_text() if readme.exists() else "bench\n")
        constraints = str(_constraints(Path(tmp)))
        if fresh:
            _pip(venv, "-c", constraints, want.split()[0], str(copy))
        else:
            _pip(venv, "-c", constraints, "--no-deps", "--force-reinstall", str(copy))
    stamp.write_text(want)
    return _python(venv)
