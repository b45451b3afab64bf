"""The directories of :mod:`.storage.paths` are platformdirs' own, also where they are worked
out without it (the warm path): same cache and config directory for every environment."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import platformdirs
import pytest

from httpie_stytch_connected.storage.paths import (
    APP_NAME,
    _place,
    cache_dir,
    config_dir,
    config_file,
    lock_dir,
)

#: (XDG variable value, HOME) pairs; None: unset.
CASES = [
    (None, "/home/someone"),
    (None, "/home/someone/"),
    (None, "/"),
    ("", "/home/someone"),
    ("   ", "/home/someone"),
    ("/srv/xdg", "/home/someone"),
    ("/srv/xdg/", "/home/someone"),
    ("/srv/xdg ", "/home/someone"),
    ("relative/xdg", "/home/someone"),
    (" /srv/xdg", "/home/someone"),
    ("/srv/xdg", None),
    (None, "relative-home"),
]


@pytest.mark.parametrize(("xdg", "home"), CASES)
@pytest.mark.parametrize(
    ("variable", "ours", "theirs"),
    [
        ("XDG_CACHE_HOME", cache_dir, platformdirs.user_cache_dir),
        ("XDG_CONFIG_HOME", config_dir, platformdirs.user_config_dir),
    ],
)
def test_the_directories_are_platformdirs_own(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    ours: Callable[[], Path],
    theirs: Callable[..., str],
    xdg: str | None,
    home: str | None,
) -> None:
    monkeypatch.delenv("STYTCH_CACHE_DIR", raising=False)
    for name, value in ((variable, xdg), ("HOME", home)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    try:
        expected = Path(theirs(APP_NAME, appauthor=False))
    except RuntimeError:  # this platformdirs cannot tell without an absolute HOME
        with pytest.raises(RuntimeError):
            ours()
        return
    assert ours() == expected


def test_the_profiles_file_is_in_the_config_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "/srv/xdg-config")
    expected = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"
    assert config_file({}) == expected


def test_a_path_under_the_default_lock_directory_is_still_the_lock_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The warm read skips the runtime directory only for paths that cannot be under it."""
    monkeypatch.delenv("STYTCH_LOCK_DIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    tmp_path.chmod(0o700)
    locks = lock_dir()
    assert locks.name == "locks"
    monkeypatch.setenv("STYTCH_CACHE_DIR", str(locks / "cache"))  # nested on purpose
    assert _place(locks / "cache" / "x.json")[1] == "STYTCH_LOCK_DIR"
    assert _place(tmp_path / "elsewhere" / "x.json")[1] is None


@pytest.mark.skipif(sys.platform != "linux", reason="elsewhere platformdirs is asked")
def test_a_warm_read_of_the_access_token_cache_imports_no_platformdirs(tmp_path: Path) -> None:
    """No STYTCH_* directory setting, as on a person's machine: the cache is found, read, and
    neither platformdirs, the lock module nor the keyring store is imported."""
    code = (
        "import sys\n"
        "from httpie_stytch_connected.storage.paths import config_file\n"
        "from httpie_stytch_connected.storage.access_cache import AccessTokenCache\n"
        "import os\n"
        "config_file(os.environ)\n"
        "print(AccessTokenCache().load('k'))\n"
        "heavy = ('platformdirs', 'keyring', 'httpie_stytch_connected.storage.locks',\n"
        "         'httpie_stytch_connected.storage.store')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    env = {
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["None", "[]"]
