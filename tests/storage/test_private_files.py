"""STYTCH_CACHE_DIR / STYTCH_DATA_DIR pointing at a directory another local user created or can
write: every directory written into and every file read back as trusted (discovery cache,
access-token cache, file store, locks) is checked, and refused with a clear message otherwise."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from httpie_stytch_connected.errors import TokenStoreError
from httpie_stytch_connected.oauth.tokens import TokenSet
from httpie_stytch_connected.storage.metadata_cache import discover
from httpie_stytch_connected.storage.store import (
    AccessTokenCache,
    FileStore,
    cache_dir,
    ensure_private_dir,
    read_text,
    write_private,
)
from httpie_stytch_connected.testing import StytchEmulator

pytestmark = pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership and modes")

AS_ROOT = hasattr(os, "getuid") and os.getuid() == 0
#: Not our uid: "nobody", for a directory another local user created.
OTHER_UID = 65534
ROOT = Path(__file__).resolve().parents[2]


def _planted() -> TokenSet:
    return TokenSet(access_token="planted-token", expires_at=time.time() + 3600)


def _as_another_user_left_it(directory: Path, how: str) -> None:
    if how == "symlink":
        real = directory.with_name(directory.name + "-real")  # theirs; it holds what ours did
        directory.rename(real)
        directory.symlink_to(real)
    elif how == "other-owner":
        os.chown(directory, OTHER_UID, OTHER_UID)
    else:
        directory.chmod({"world-writable": 0o777, "group-writable": 0o770, "sticky": 0o1777}[how])


UNSAFE = [
    "world-writable",
    "group-writable",
    "sticky",  # /tmp-like: anyone may create what we have not created yet
    "symlink",
    pytest.param("other-owner", marks=pytest.mark.skipif(not AS_ROOT, reason="chown needs root")),
]


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """STYTCH_CACHE_DIR and STYTCH_DATA_DIR at /tmp/shared-like directories."""
    cache, data = tmp_path / "shared-cache", tmp_path / "shared-data"
    cache.mkdir()
    data.mkdir()
    monkeypatch.setenv("STYTCH_CACHE_DIR", str(cache))
    monkeypatch.setenv("STYTCH_DATA_DIR", str(data))
    yield cache


@pytest.mark.parametrize("how", UNSAFE)
def test_a_planted_access_token_is_never_sent(shared: Path, how: str) -> None:
    """Another user plants an access-token file: the victim would send the attacker's token."""
    write_private(shared / "access" / "k.json", _planted().to_json())
    _as_another_user_left_it(shared, how)
    with pytest.raises(TokenStoreError, match="STYTCH_CACHE_DIR") as caught:
        AccessTokenCache().load("k")
    assert "another local user" in str(caught.value)
    assert "planted-token" not in str(caught.value)


@pytest.mark.parametrize("how", UNSAFE)
def test_a_planted_discovery_document_is_never_used(
    stytch_emulator: StytchEmulator, shared: Path, how: str
) -> None:
    """Another user rewrites the cached discovery document to send codes, verifiers and
    refresh tokens to their token endpoint: refused, and nothing is written there either."""
    issuer = stytch_emulator.issuer
    discover(issuer)
    (cached,) = (shared / "discovery").iterdir()
    data = json.loads(cached.read_text())
    data["document"]["token_endpoint"] = "https://attacker.example/token"
    cached.write_text(json.dumps(data))
    _as_another_user_left_it(shared, how)
    with pytest.raises(TokenStoreError, match=r"Refusing to use .* STYTCH_CACHE_DIR"):
        discover(issuer)


@pytest.mark.parametrize("how", UNSAFE)
def test_nothing_is_written_into_a_directory_another_user_can_write(shared: Path, how: str) -> None:
    _as_another_user_left_it(shared, how)
    for write in (
        lambda: write_private(cache_dir() / "discovery" / "d.json", "{}"),
        lambda: ensure_private_dir(cache_dir() / "locks"),
    ):
        with pytest.raises(TokenStoreError, match="STYTCH_CACHE_DIR"):
            write()
    assert not (shared / "discovery").exists() and not (shared / "locks").exists()


@pytest.mark.parametrize("how", UNSAFE)
def test_the_file_store_refuses_a_data_dir_another_user_can_write(shared: Path, how: str) -> None:
    data = Path(os.environ["STYTCH_DATA_DIR"])
    _as_another_user_left_it(data, how)
    with pytest.raises(TokenStoreError, match="STYTCH_DATA_DIR"):
        FileStore().load("k")
    with pytest.raises(TokenStoreError, match="STYTCH_DATA_DIR"):
        FileStore().save("k", _planted())


@pytest.mark.parametrize("where", ["access", "locks"])
def test_a_writable_or_symlinked_directory_below_ours_is_refused(shared: Path, where: str) -> None:
    below = ensure_private_dir(shared / where)
    below.chmod(0o777)
    with pytest.raises(TokenStoreError, match="other users can write to it"):
        ensure_private_dir(below)
    below.rmdir()
    below.symlink_to(shared.parent)
    with pytest.raises(TokenStoreError, match="symbolic link"):
        ensure_private_dir(below)


def test_a_symlink_in_place_of_a_cached_file_is_not_followed(shared: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(_planted().to_json())
    ensure_private_dir(shared / "access")
    (shared / "access" / "k.json").symlink_to(elsewhere)
    with pytest.raises(TokenStoreError, match="symbolic link"):
        AccessTokenCache().load("k")


def test_a_cached_file_others_can_write_is_refused(shared: Path) -> None:
    path = shared / "access" / "k.json"
    write_private(path, _planted().to_json())
    path.chmod(0o666)
    with pytest.raises(TokenStoreError, match="other users can write to it"):
        read_text(path)


def test_a_parent_another_user_can_rename_things_in_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 0777 parent without the sticky bit lets another user swap our directory for theirs;
    with the sticky bit (as /tmp has) they cannot."""
    for mode, refused in ((0o777, True), (0o1777, False), (0o755, False)):
        parent = tmp_path / f"parent-{mode:o}"
        parent.mkdir()
        parent.chmod(mode)
        monkeypatch.setenv("STYTCH_CACHE_DIR", str(parent / "mine"))
        if refused:
            with pytest.raises(TokenStoreError, match=f"{parent}.*other users can write"):
                ensure_private_dir(cache_dir() / "access")
        else:
            ensure_private_dir(cache_dir() / "access")


def test_the_apps_own_top_level_directories_are_0700(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("STYTCH_CACHE_DIR", "STYTCH_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    AccessTokenCache().save("k", _planted())
    FileStore().save("k", _planted())
    for top in (tmp_path / "xdg-cache", tmp_path / "xdg-data"):
        app = top / "httpie-stytch-connected"
        for directory in (top, app, *app.iterdir()):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    # An older release left the cache directory 0755: the next write narrows it.
    app = tmp_path / "xdg-cache" / "httpie-stytch-connected"
    app.chmod(0o755)
    AccessTokenCache().save("k", _planted())
    assert stat.S_IMODE(app.stat().st_mode) == 0o700


def test_a_cached_discovery_document_is_checked_again_when_read(
    stytch_emulator: StytchEmulator, shared: Path
) -> None:
    """One that names another issuer (or lists an http:// endpoint) is fetched anew."""
    issuer = stytch_emulator.issuer
    first = discover(issuer)
    (cached,) = (shared / "discovery").iterdir()
    for change in ({"issuer": "https://other.example"}, {"token_endpoint": "http://x.example/t"}):
        data = json.loads(cached.read_text())
        data["document"].update(change)
        cached.write_text(json.dumps(data))
        assert discover(issuer) == first


def test_a_symlink_at_a_lock_path_is_not_followed(shared: Path, tmp_path: Path) -> None:
    """filelock >= 3.20.3 opens lock files with O_NOFOLLOW (CVE-2025-68146, CVE-2026-22701):
    a symlink planted at a lock path never truncates or chmods its target."""
    import filelock

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o644)
    lock_path = ensure_private_dir(shared / "locks") / "k.lock"
    lock_path.symlink_to(victim)
    with pytest.raises(OSError):  # ELOOP, whatever errno class it maps to
        filelock.FileLock(str(lock_path), mode=0o600).acquire(timeout=5)
    assert victim.read_text() == "precious" and stat.S_IMODE(victim.stat().st_mode) == 0o644


def test_the_filelock_floor_has_the_symlink_fix() -> None:
    """3.20.1 fixed UnixFileLock/WindowsFileLock (CVE-2025-68146), 3.20.3 SoftFileLock
    (CVE-2026-22701), the fallback where fcntl is missing."""
    assert '"filelock>=3.20.3"' in (ROOT / "pyproject.toml").read_text()
    from importlib.metadata import version

    assert tuple(int(p) for p in version("filelock").split(".")[:3]) >= (3, 20, 3)


def test_a_setting_pointed_at_a_directory_is_named_as_one(tmp_path: Path) -> None:
    """A config file or secret file setting that names a folder: one sentence, not an
    ``IsADirectoryError``."""
    from httpie_stytch_connected.storage.private_files import read_private, read_settings_file

    folder = tmp_path / "config"
    folder.mkdir(mode=0o700)
    with pytest.raises(TokenStoreError, match="is a directory; point STYTCH_CONFIG at a file"):
        read_settings_file(folder, "STYTCH_CONFIG")
    with pytest.raises(TokenStoreError, match="is a directory; point access_token_file at a"):
        read_private(folder, tmp_path, "access_token_file", what="file")
