"""The ``stytch-connected`` command through its real entry points (``python -m`` and the console
script), against the emulator over loopback, with the isolating environment of ``stytch_env``."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import jwt
import pytest

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.messages import human_duration
from httpie_stytch_connected.testing import StytchEmulator
from tests.command import ENTRY_POINTS, TIMEOUT, cli, one_line_error


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_login_status_token_logout(stytch_env: StytchEmulator, entry: str) -> None:
    login = cli("login", entry=entry)
    assert login.returncode == 0, login.stderr
    assert login.stdout == ""
    assert "Signed in as Ada Lovelace <ada@example.com>" in login.stderr

    token = cli("token", entry=entry)
    assert token.returncode == 0, token.stderr
    access = token.stdout.strip()
    assert token.stdout == access + "\n"
    assert stytch_env.verify_access_token(access)["sub"].startswith("user-test-")
    assert stytch_env.counters["login"] == 1  # the token came from the store, not a new login

    status = cli("status", entry=entry)
    assert status.returncode == 0, status.stderr
    assert "Ada Lovelace <ada@example.com>" in status.stdout
    assert "(verified ID token)" in status.stdout
    assert "offline_access" in status.stdout
    assert "valid for 59 minutes" in status.stdout or "valid for 1 hour" in status.stdout
    assert "Token store:   system keyring" in status.stdout
    assert "Token from:    signed in\n" in status.stdout  # the store is said once, in its row
    assert status.stdout.count("DirectoryKeyring") == 1
    secrets = [access, *stytch_env.issued_refresh_tokens()]
    assert not any(s in status.stdout + status.stderr for s in secrets)

    logout = cli("logout", entry=entry)
    assert logout.returncode == 0, logout.stderr
    assert "the provider revoked the session" in logout.stderr
    with pytest.raises(ValueError, match="revoked"):
        stytch_env.verify_access_token(access)

    assert "Not signed in" in one_line_error(cli("status", entry=entry))
    again = cli("logout", entry=entry)
    assert again.returncode == 0
    assert again.stderr.strip() == (
        "Not signed in: nothing is stored for the settings without a profile."
    )


def test_token_logs_in_when_needed_and_stdout_holds_only_the_token(
    stytch_env: StytchEmulator,
) -> None:
    result = cli("token")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    stytch_env.verify_access_token(result.stdout.strip())
    assert "Opening your browser" in result.stderr
    assert result.stdout.strip() not in result.stderr


def test_logout_deletes_locally_when_the_provider_is_unreachable(
    stytch_env: StytchEmulator,
) -> None:
    assert cli("login").returncode == 0
    stytch_env.stop()
    logout = cli("logout")
    assert logout.returncode == 0, logout.stderr
    assert "could not revoke them" in logout.stderr
    assert "Not signed in" in one_line_error(cli("status"))


def test_status_falls_back_to_userinfo_without_an_id_token(stytch_env: StytchEmulator) -> None:
    assert cli("login").returncode == 0
    manager = StytchAuth().manager
    stored = manager.stored()
    assert stored is not None and stored.id_token
    manager.store.save(manager.key, replace(stored, id_token=None))
    status = cli("status")
    assert status.returncode == 0, status.stderr
    assert "Ada Lovelace <ada@example.com>" in status.stdout
    assert "(userinfo endpoint)" in status.stdout
    assert stytch_env.counters["userinfo"] == 1


def test_status_never_trusts_a_forged_id_token(stytch_env: StytchEmulator) -> None:
    assert cli("login").returncode == 0
    manager = StytchAuth().manager
    stored = manager.stored()
    assert stored is not None
    forged = jwt.encode(
        {"sub": "mallory", "name": "Mallory", "iss": stytch_env.issuer},
        "not-the-provider-key-but-long-enough-for-hmac",
        algorithm="HS256",
    )
    manager.store.save(manager.key, replace(stored, id_token=forged))
    status = cli("status")
    assert status.returncode == 0, status.stderr
    assert "Mallory" not in status.stdout
    assert "Ada Lovelace" in status.stdout


def test_status_when_not_signed_in_is_one_line_and_exit_1(stytch_env: StytchEmulator) -> None:
    line = one_line_error(cli("status"))
    assert "run `stytch-connected login`" in line


def test_missing_setting_names_it(stytch_env: StytchEmulator) -> None:
    env = dict(os.environ)
    del env["STYTCH_CLIENT_ID"]
    line = one_line_error(cli("token", env=env))
    assert "client_id is not set" in line and "STYTCH_CLIENT_ID" in line


def test_invalid_setting_names_it_and_its_source(stytch_env: StytchEmulator) -> None:
    line = one_line_error(cli("config", "--login-timeout", "soon"))
    assert "login_timeout from argument is invalid" in line


@pytest.mark.parametrize(
    ("setting", "value", "wanted"),
    [
        ("--login-timeout", "-5", "a number of seconds greater than 0"),
        ("--login-timeout", "0", "a number of seconds greater than 0"),
        ("--keyring-timeout", "0", "a number of seconds greater than 0"),
        ("--leeway", "-1", "a number of seconds, 0 or more"),
    ],
)
def test_an_out_of_range_number_of_seconds_says_the_bound(
    stytch_env: StytchEmulator, setting: str, value: str, wanted: str
) -> None:
    """-5 is a number of seconds: the line says which ones are allowed, and a 0 that would
    open the browser only to give up at once is refused before anything opens."""
    line = one_line_error(cli("login", f"{setting}={value}"))
    assert f"is invalid: expected {wanted}." in line, line
    assert stytch_env.counters["authorize_page"] == 0


@pytest.mark.parametrize(
    "args", [[], ["frobnicate"], ["status", "--bogus"], ["token", "extra"]], ids=str
)
def test_usage_errors_exit_2(stytch_env: StytchEmulator, args: list[str]) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert "usage: stytch-connected" in result.stderr


def test_config_shows_each_value_and_where_it_came_from(
    stytch_env: StytchEmulator, stytch_keyring: Path
) -> None:
    config = Path(os.environ["STYTCH_CONFIG"])
    config.write_text(
        'default_profile = "work"\n'
        "[profiles.work]\n"
        "login_timeout = 30\n"
        "leeway = 10\n"
        'scopes = "openid read:data"\n'
        "[profiles.other]\n"
        "leeway = 99\n"
    )
    env = {**os.environ, "STYTCH_LOGIN_TIMEOUT": "40", "STYTCH_LEEWAY": "20"}
    result = cli("config", "--login-timeout", "50", env=env)
    assert result.returncode == 0, result.stderr
    lines = {line.split(" = ")[0].strip(): line for line in result.stdout.splitlines()}
    assert f"Config file: {config} (found)" in result.stdout
    assert "Profile: work" in result.stdout
    assert lines["login_timeout"].endswith("= 50  (argument)")
    assert lines["leeway"].endswith("= 20  (environment variable STYTCH_LEEWAY)")
    assert lines["scopes"].endswith(f"= openid read:data  (profile 'work' in {config})")
    assert lines["redirect_path"].endswith("= /callback  (default)")
    assert lines["client_id"].endswith(
        f"= {stytch_env.client_id}  (environment variable STYTCH_CLIENT_ID)"
    )

    other = cli("--profile", "other", "config", env={**os.environ, "STYTCH_PROFILE": "work"})
    assert "Profile: other" in other.stdout
    assert "= 99  (profile 'other'" in other.stdout
    by_env = cli("config", env={**os.environ, "STYTCH_PROFILE": "other"})
    assert "Profile: other" in by_env.stdout


def test_unknown_profile_key_is_an_error_naming_key_and_file(
    stytch_env: StytchEmulator, stytch_keyring: Path
) -> None:
    config = Path(os.environ["STYTCH_CONFIG"])
    config.write_text('[profiles.default]\nclinet_id = "x"\n')
    line = one_line_error(cli("status"))
    assert "'clinet_id'" in line and str(config) in line


def test_missing_profile_is_an_error(stytch_env: StytchEmulator) -> None:
    line = one_line_error(cli("--profile", "nope", "status"))
    assert "'nope'" in line


def test_global_options_work_after_the_command(stytch_env: StytchEmulator) -> None:
    result = cli("config", "--scopes", "openid email", "--no-browser")
    assert result.returncode == 0, result.stderr
    assert "scopes                     = openid email  (argument)" in result.stdout
    assert "no_browser                 = true  (argument)" in result.stdout


def test_debug_logs_to_stderr_without_secrets(stytch_env: StytchEmulator) -> None:
    assert cli("login").returncode == 0
    manager = StytchAuth().manager
    stored = manager.stored()
    assert stored is not None
    manager.store.save(manager.key, replace(stored, expires_at=0.0))
    assert manager.access_cache is not None
    manager.access_cache.delete(manager.key)
    stytch_env.revoke_all()  # the refresh is refused, so the token command signs in again
    token = cli("--debug", "token")
    assert token.returncode == 0, token.stderr
    assert (
        "stytch-connected: httpie_stytch_connected.lifecycle.manager: refresh refused"
        in token.stderr
    )
    logout = cli("--debug", "logout")
    assert logout.returncode == 0, logout.stderr
    secrets = [token.stdout.strip(), *stytch_env.issued_refresh_tokens()]
    assert not any(s in token.stderr + logout.stderr for s in secrets)
    assert "code=" not in token.stderr


def test_demo_is_delegated_with_its_arguments(stytch_keyring: Path) -> None:
    result = cli("demo", "--help")
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout


def test_ctrl_c_exits_130(stytch_env: StytchEmulator) -> None:
    env = {**os.environ, "STYTCH_UA_DECISION": "ignore"}
    process = subprocess.Popen(
        [*ENTRY_POINTS["module"], "login"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        seen = b""
        deadline = time.monotonic() + TIMEOUT
        while b"/oauth/authorize?" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stderr], [], [], 1.0)
            if ready:
                seen += os.read(process.stderr.fileno(), 4096)
        assert b"/oauth/authorize?" in seen
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=TIMEOUT) == 130
    finally:
        process.kill()
        process.wait(timeout=TIMEOUT)


def test_an_expiry_on_another_day_shows_its_date_not_only_a_time_of_day(
    stytch_env: StytchEmulator,
) -> None:
    """A time of day alone ("expired 3 days ago (at 09:12)") named some unsaid day: a moment
    on another day than today shows its date (local time, as the hour is)."""
    from tests.adapters import supplied_jwt

    exp = int(time.time()) - 3 * 86400
    day = time.strftime("%Y-%m-%d", time.localtime(exp))
    hour = time.strftime("%H:%M", time.localtime(exp))
    for argv in (["status"], ["token"]):
        result = cli(*argv, env={**os.environ, "STYTCH_ACCESS_TOKEN": supplied_jwt(exp=exp)})
        said = result.stdout + result.stderr
        assert "expired 3 days " in said and f" ago (at {day} {hour})" in said, said
    today = int(time.time()) + 60
    status = cli("status", env={**os.environ, "STYTCH_ACCESS_TOKEN": supplied_jwt(exp=today)})
    if time.localtime(today).tm_yday == time.localtime().tm_yday:  # not across midnight
        assert f"(until {time.strftime('%H:%M', time.localtime(today))})" in status.stdout


def test_help_warns_that_a_secret_given_as_a_flag_is_in_the_process_list(
    stytch_env: StytchEmulator,
) -> None:
    """``--client-secret VALUE`` and ``--access-token VALUE`` put the secret in argv, which
    every local user can read (``ps``, /proc) and the shell keeps in its history; --help said
    nothing of it. Each says so and names the variable or file setting to use instead."""
    shown = " ".join(cli("token", "--help").stdout.split())
    for flag, instead in (
        ("--client-secret VALUE", "STYTCH_CLIENT_SECRET or --client-secret-file"),
        ("--access-token VALUE", "STYTCH_ACCESS_TOKEN or --access-token-file"),
    ):
        after = shown.rsplit(flag, 1)[1]  # its help, past the usage lines
        said = f"other local users can read it in the process list; prefer {instead}"
        assert said in after[:200], after[:300]


def test_human_duration() -> None:
    assert human_duration(45) == "45 seconds"
    assert human_duration(60) == "1 minute"
    assert human_duration(3 * 3600 + 5 * 60 + 7) == "3 hours 5 minutes"
    assert human_duration(2 * 86400 + 4 * 3600) == "2 days 4 hours"
    assert human_duration(0.4) == "0 seconds"


def test_config_says_what_is_ignored_and_names_misspelt_variables(
    stytch_env: StytchEmulator,
) -> None:
    env = {
        **os.environ,
        "STYTCH_PROJECT_ID": "project-test-1",  # project_domain wins over it
        "STYTCH_LOGIN_TIMOUT": "5",
    }
    result = cli("config", env=env)
    assert result.returncode == 0, result.stderr
    lines = {line.split(" = ")[0].strip(): line for line in result.stdout.splitlines()}
    assert lines["project_id"].endswith(
        "(environment variable STYTCH_PROJECT_ID; ignored: project_domain wins over the legacy "
        "form)"
    )
    assert "ignored" not in lines["project_domain"]
    assert (
        "Unknown environment variable STYTCH_LOGIN_TIMOUT (ignored; did you mean "
        "STYTCH_LOGIN_TIMEOUT?)" in result.stdout
    )
    env.pop("STYTCH_CLIENT_ID")
    env["STYTCH_CLIENTID"] = "x"
    line = one_line_error(cli("token", env=env))
    assert "STYTCH_CLIENTID is set: did you mean STYTCH_CLIENT_ID?" in line


def test_logout_revokes_at_the_revocation_endpoint_it_is_given(
    stytch_env: StytchEmulator,
) -> None:
    from tests.loopback import LoopbackServer, QuietHandler

    seen: list[str] = []

    class Revocation(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            seen.append(body)
            self.reply(200)

    with LoopbackServer(Revocation) as revocation:
        url = revocation.url + "/revoke"
        assert cli("login", "--revocation-endpoint", url).returncode == 0
        shown = cli("config", "--revocation-endpoint", url)
        assert f"revocation_endpoint        = {url}  (argument)" in shown.stdout
        logout = cli("logout", "--revocation-endpoint", url)
    assert logout.returncode == 0, logout.stderr
    assert len(seen) == 1 and "token_type_hint=refresh_token" in seen[0]
    assert stytch_env.counters["revoke"] == 0


def test_version() -> None:
    from httpie_stytch_connected import __version__

    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout == f"stytch-connected {__version__}\n"


def test_a_successful_login_under_debug_logs_its_steps_without_secrets(
    stytch_env: StytchEmulator,
) -> None:
    login = cli("--debug", "login")
    assert login.returncode == 0, login.stderr
    steps = [
        "sign-in: authorization request to 127.0.0.1:",
        "sign-in: opening the browser",
        "sign-in: callback received; exchanging the code at 127.0.0.1:",
        "sign-in: ID token verified",
        "sign-in: done; scope ",
    ]
    positions = [login.stderr.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), login.stderr
    token = cli("token").stdout.strip()
    secrets = [token, *stytch_env.issued_refresh_tokens(), *stytch_env._codes]
    assert not any(s in login.stderr for s in secrets)
    assert "code=" not in login.stderr


def test_config_says_what_an_unset_host_or_issuer_list_means(stytch_env: StytchEmulator) -> None:
    result = cli("config")
    assert result.returncode == 0, result.stderr
    lines = {line.split(" = ")[0].strip(): line for line in result.stdout.splitlines()}
    assert lines["hosts"].endswith(
        "= (any host: the token goes to every URL you send a request to)  (default)"
    )
    assert lines["trusted_issuers"].endswith(
        "= (none: you are asked before signing in at a server an API names)  (default)"
    )
    assert lines["local_hosts"].endswith(
        "= (none: only loopback hosts, 127.0.0.1, ::1 and localhost, are yours)  (default)"
    )
    env = {**os.environ, "STYTCH_LOCAL_HOSTS": "api.corp", "STYTCH_HOSTS": "*.example.com"}
    lines = {
        line.split(" = ")[0].strip(): line for line in cli("config", env=env).stdout.splitlines()
    }
    assert "= api.corp  (environment variable STYTCH_LOCAL_HOSTS)" in lines["local_hosts"]
    assert "= *.example.com  (environment variable STYTCH_HOSTS)" in lines["hosts"]
