"""A second local user against the person's secrets (issue 17 §5): files she planted or can
write never decide where a code, verifier or refresh token goes; a directory she creates first
never stops a sign-in; the authorization URL is never on a command line she can read; and a
sign-in that changed whose tokens a profile holds says so.

The other user is uid/gid 65534 through ``setpriv`` (as root, as CI runs); where that cannot
work, the tests that need her skip. The command runs as a subprocess against the emulator or a
small hostile server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from httpie_stytch_connected.testing import StytchEmulator
from tests.loopback import LoopbackServer, QuietHandler

OTHER = 65534
TIMEOUT = 60


def _setpriv_works() -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    probe = subprocess.run(
        ["setpriv", f"--reuid={OTHER}", f"--regid={OTHER}", "--clear-groups", "true"],
        capture_output=True,
        timeout=TIMEOUT,
    )
    return probe.returncode == 0


needs_other_user = pytest.mark.skipif(
    not _setpriv_works(), reason="needs root and setpriv to act as a second local user"
)


def as_other(*command: str) -> subprocess.CompletedProcess[str]:
    """``command`` run by the other local user."""
    return subprocess.run(
        ["setpriv", f"--reuid={OTHER}", f"--regid={OTHER}", "--clear-groups", *command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )


def plant(path: Path, text: str, mode: str = "644") -> None:
    """The other user writes ``path``."""
    done = as_other("sh", "-c", 'umask 022 && printf "%s" "$1" > "$2" && chmod "$3" "$2"', "-",
                    text, str(path), mode)  # fmt: skip
    assert done.returncode == 0, done.stderr


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "httpie_stytch_connected", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A directory like ``/tmp``: root's, mode 1777 (anyone may add, nobody may rename others')."""
    root = Path(tempfile.mkdtemp(prefix="stytch-shared-", dir="/tmp"))
    os.chmod(root, 0o1777)  # noqa: S103 - the point: a shared directory
    yield root
    shutil.rmtree(root, ignore_errors=True)


class Hostile(QuietHandler):
    """The other user's server: it only counts what reaches it."""

    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.reply(200, b"{}", content_type="application/json")

    do_POST = do_GET


@pytest.fixture
def hostile() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("HostileHandler", (Hostile,), {"hits": hits})
    with LoopbackServer(handler) as server:
        yield server.url, hits


def planted_config(url: str) -> str:
    return (
        'default_profile = "p"\n[profiles.p]\nclient_id = "client-1"\n'
        f'authorization_endpoint = "{url}/authorize"\ntoken_endpoint = "{url}/token"\n'
    )


def _env(stytch_keyring: Path, **changes: str | None) -> dict[str, str]:
    kept = ("STYTCH_TEST_KEYRING_DIR", "STYTCH_CACHE_DIR", "STYTCH_LOCK_DIR", "STYTCH_DATA_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYTCH_") or k in kept}
    env["STYTCH_LOGIN_TIMEOUT"] = "5"
    env.pop("BROWSER", None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


# -- the config file ------------------------------------------------------------------------


def _shared_0777(root: Path, text: str) -> tuple[dict[str, str | None], Path]:
    directory = Path(tempfile.mkdtemp(dir=root))
    os.chmod(directory, 0o777)  # noqa: S103 - shared: root's, anyone writes, no sticky bit
    plant(directory / "config.toml", text)
    return {"STYTCH_CONFIG": str(directory / "config.toml")}, directory


def _her_directory(root: Path, text: str) -> tuple[dict[str, str | None], Path]:
    directory = root / "hers"
    assert as_other("mkdir", "-m", "755", str(directory)).returncode == 0
    plant(directory / "config.toml", text)
    return {"STYTCH_CONFIG": str(directory / "config.toml")}, directory


def _her_file_in_sticky(root: Path, text: str) -> tuple[dict[str, str | None], Path]:
    plant(root / "config.toml", text, mode="644")
    return {"STYTCH_CONFIG": str(root / "config.toml")}, root / "config.toml"


def _our_file_writable_by_others(root: Path, text: str) -> tuple[dict[str, str | None], Path]:
    directory = Path(tempfile.mkdtemp(dir=root))
    path = directory / "config.toml"
    path.write_text(text)
    os.chmod(path, 0o666)  # noqa: S103 - the fault under test
    return {"STYTCH_CONFIG": str(path)}, path


def _symlink_to_hers(root: Path, text: str) -> tuple[dict[str, str | None], Path]:
    _her_directory(root, text)
    directory = Path(tempfile.mkdtemp(dir=root))  # ours, 0700
    (directory / "config.toml").symlink_to(root / "hers" / "config.toml")
    return {"STYTCH_CONFIG": str(directory / "config.toml")}, directory / "config.toml"


def _default_path_under_hers(root: Path, text: str) -> tuple[dict[str, str | None], Path]:
    """No STYTCH_CONFIG: the default path, in a config home the other user made."""
    home = root / "hers"
    made = as_other("mkdir", "-m", "755", str(home), str(home / "httpie-stytch-connected"))
    assert made.returncode == 0
    plant(home / "httpie-stytch-connected" / "config.toml", text)
    return {"STYTCH_CONFIG": None, "XDG_CONFIG_HOME": str(home)}, home


PLANTED: dict[str, Callable[[Path, str], tuple[dict[str, str | None], Path]]] = {
    "shared-0777-directory": _shared_0777,
    "her-directory": _her_directory,
    "her-file-in-a-sticky-directory": _her_file_in_sticky,
    "our-file-writable-by-others": _our_file_writable_by_others,
    "symlink-to-her-file": _symlink_to_hers,
    "default-path-in-her-config-home": _default_path_under_hers,
}


@needs_other_user
@pytest.mark.parametrize("case", sorted(PLANTED))
def test_a_config_file_another_user_could_have_written_is_refused(
    case: str,
    stytch_keyring: Path,
    shared_root: Path,
    hostile: tuple[str, list[str]],
) -> None:
    url, hits = hostile
    changes, named = PLANTED[case](shared_root, planted_config(url))
    for command in ("login", "config"):
        result = cli(command, env=_env(stytch_keyring, **changes))
        assert result.returncode == 1, result
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("stytch-connected: error: Refusing to use "), result.stderr
        assert str(named) in line and "STYTCH_CONFIG" in line
        assert "Traceback" not in result.stderr
    assert hits == []  # her token endpoint heard nothing: no code, verifier or refresh token


@needs_other_user
def test_a_private_config_file_in_a_sticky_directory_is_used(
    stytch_keyring: Path, shared_root: Path, hostile: tuple[str, list[str]]
) -> None:
    """The control: the person's own 0600 file, even directly in ``/tmp``, is read."""
    url, _ = hostile
    path = shared_root / f"mine-{os.getpid()}.toml"
    path.write_text(planted_config(url))
    os.chmod(path, 0o600)
    result = cli("config", env=_env(stytch_keyring, STYTCH_CONFIG=str(path)))
    assert result.returncode == 0, result.stderr
    assert f"{url}/token" in result.stdout and "profile 'p'" in result.stdout


# -- the runtime directory ------------------------------------------------------------------


@needs_other_user
@pytest.mark.skipif(
    os.path.isdir(f"/run/user/{os.getuid()}"), reason="the runtime directory exists here"
)
def test_a_squatted_runtime_fallback_stops_no_sign_in(
    stytch_env: StytchEmulator, shared_root: Path, tmp_path: Path
) -> None:
    squatted = shared_root / f"runtime-{os.getuid()}"
    assert as_other("mkdir", "-m", "700", str(squatted)).returncode == 0
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    env = {**os.environ, "TMPDIR": str(shared_root), "HOME": str(home)}
    for name in ("STYTCH_LOCK_DIR", "XDG_RUNTIME_DIR"):
        env.pop(name, None)
    for command in ("login", "token"):
        result = cli(command, env=env)
        assert result.returncode == 0, result.stderr
    locks = home / ".local" / "state" / "httpie-stytch-connected" / "locks"
    assert list(locks.glob("*.lock"))
    assert stat.S_IMODE(locks.stat().st_mode) == 0o700
    assert os.stat(squatted).st_uid == OTHER  # hers, untouched and unused


# -- the authorization URL on the command line ----------------------------------------------


def test_a_browser_command_is_never_given_the_authorization_url(
    stytch_env: StytchEmulator, tmp_path: Path
) -> None:
    record = tmp_path / "argv.json"
    browser = tmp_path / "browser.py"
    browser.write_text(
        "import json, os, sys\n"
        "from httpie_stytch_connected.testing import user_agent\n"
        "target = sys.argv[1][len('file://'):] if sys.argv[1].startswith('file://') else ''\n"
        "info = os.stat(target) if target else None\n"
        "up = os.stat(os.path.dirname(target)) if target else None\n"
        f"open({str(record)!r}, 'w').write(json.dumps({{'argv': sys.argv[1:],\n"
        "    'modes': [info and info.st_mode & 0o777, up and up.st_mode & 0o777],\n"
        "    'owner': info and info.st_uid}))\n"
        "sys.exit(user_agent.main(sys.argv[1:]))\n"
    )
    env = {**os.environ, "BROWSER": f"{sys.executable} {browser} %s"}
    result = cli("login", env=env)
    assert result.returncode == 0, result.stderr
    seen = json.loads(record.read_text())
    argv = " ".join(seen["argv"])
    assert "state=" not in argv and "code_challenge" not in argv and "127.0.0.1" not in argv
    assert argv.startswith("file://")
    assert seen["modes"] == [0o600, 0o700] and seen["owner"] == os.getuid()
    # What the person's terminal shows is the URL the page forwarded to.
    printed = [line.strip() for line in result.stderr.splitlines() if "state=" in line]
    assert printed and parse_qs(urlsplit(printed[0]).query)["state"]


@needs_other_user
def test_another_user_cannot_read_the_forwarding_page() -> None:
    from httpie_stytch_connected.login.browser import forwarding_page

    page = forwarding_page("https://as.example/authorize?state=S3CRETSTATE&x=<y>")
    assert page is not None
    path = page[len("file://") :]
    try:
        assert "S3CRETSTATE" in Path(path).read_text()
        assert "<y>" not in Path(path).read_text()  # escaped, not markup
        peek = as_other("cat", path)
        assert peek.returncode != 0 and "S3CRETSTATE" not in peek.stdout
    finally:
        shutil.rmtree(os.path.dirname(path))


# -- a changed identity ---------------------------------------------------------------------


def test_a_sign_in_as_someone_else_is_loud(stytch_env: StytchEmulator) -> None:
    first = cli("login", env=dict(os.environ))
    assert first.returncode == 0, first.stderr
    assert "this profile was" not in first.stderr
    again = cli("login", env=dict(os.environ))
    assert again.returncode == 0, again.stderr
    assert "Signed in as Ada Lovelace" in again.stderr and "this profile was" not in again.stderr
    # Someone else finishes the next sign-in with her own account.
    stytch_env.user_id = "user-test-11111111-1111-1111-1111-111111111111"
    stytch_env.email, stytch_env.name = "mallory@example.com", "Mallory"
    other = cli("login", env={**os.environ, "STYTCH_UA_EMAIL": "mallory@example.com"})
    assert other.returncode == 0, other.stderr
    assert (
        "Signed in as Mallory <mallory@example.com> (user-test-11111111-1111-1111-1111-"
        "111111111111); this profile was Ada Lovelace <ada@example.com> (user-test-"
        "00000000-0000-0000-0000-000000000000)."
    ) in other.stderr


def test_a_sign_in_as_someone_else_is_loud_when_the_replaced_set_cannot_say_whose_it_was(
    stytch_env: StytchEmulator,
) -> None:
    """No ID token (no openid scope) and an access token the userinfo endpoint no longer
    takes: who held the profile is what was kept at that sign-in."""
    import requests

    env = {**os.environ, "STYTCH_SCOPES": "profile email offline_access"}
    first = cli("login", env=env)
    assert first.returncode == 0, first.stderr
    assert "Signed in as Ada Lovelace <ada@example.com>" in first.stderr
    token = cli("token", env=env)
    assert token.returncode == 0, token.stderr
    revoked = requests.post(
        stytch_env.revocation_endpoint,
        data={"token": token.stdout.strip(), "client_id": stytch_env.client_id},
        timeout=TIMEOUT,
    )
    assert revoked.status_code == 200, revoked.text
    stytch_env.user_id = "user-test-11111111-1111-1111-1111-111111111111"
    stytch_env.email, stytch_env.name = "mallory@example.com", "Mallory"
    other = cli("login", env={**env, "STYTCH_UA_EMAIL": "mallory@example.com"})
    assert other.returncode == 0, other.stderr
    assert "Signed in as Mallory <mallory@example.com>" in other.stderr
    assert "this profile was Ada Lovelace <ada@example.com> (user-test-00000000" in other.stderr
