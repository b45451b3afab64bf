"""Handing tokens to other programs (``token --json/--format``, ``exec``), ``status --json``,
secrets in ``config``, and CI-like runs (no TTY, no BROWSER, ``CI=true``) of every entry point:
the command, a requests script and HTTPie, as real subprocesses without a controlling terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from httpie_stytch_connected.auth import StytchAuth
from httpie_stytch_connected.testing import StytchEmulator
from httpie_stytch_connected.testing.emulator import ClientCredentials, example_api
from httpie_stytch_connected.testing.pytest_plugin import scripted_opener
from httpie_stytch_connected.testing.resource_server import ResourceServer
from tests.adapters import supplied_jwt
from tests.command import REQUESTS_SCRIPT, one_line_error, rows, run_without_terminal
from tests.lifecycle import expire_stored

CLI = [sys.executable, "-m", "httpie_stytch_connected"]
HTTP = [sys.executable, "-m", "httpie"]
SCRIPT = REQUESTS_SCRIPT
HTTPX_SCRIPT = (
    "import sys, httpx\n"
    "from httpie_stytch_connected.httpx import StytchAuth\n"
    "print(httpx.get(sys.argv[1], auth=StytchAuth(), timeout=30).status_code)\n"
)
#: One GET through each library's client, with ``StytchAuth()`` and nothing else: what a user's
#: script is, for the CI-like runs.
LIBRARY_SCRIPTS = {
    "requests": SCRIPT,
    **{
        f"{library}.{client}": (
            "import asyncio, sys\n"
            f"import {library}\n"
            f"from httpie_stytch_connected.{library} import StytchAuth\n"
            "async def get():\n"
            f"    async with {library}.AsyncClient(auth=StytchAuth(), timeout=30) as c:\n"
            "        return await c.get(sys.argv[1])\n"
            "print(asyncio.run(get()).status_code)\n"
            if client == "AsyncClient"
            else "import sys\n"
            f"import {library}\n"
            f"from httpie_stytch_connected.{library} import StytchAuth\n"
            f"with {library}.Client(auth=StytchAuth(), timeout=30) as c:\n"
            "    print(c.get(sys.argv[1]).status_code)\n"
        )
        for library in ("httpx", "httpx2")
        for client in ("Client", "AsyncClient")
    },
}
#: A CI job fails within this many seconds without a credential (it never waits on a sign-in).
FAST = 10.0


run = run_without_terminal


def ci_env(emulator: StytchEmulator, **more: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY")
    }
    env.update(CI="true", STYTCH_PROJECT_DOMAIN=emulator.project_domain, **more)
    return env


def person_ci_env(emulator: StytchEmulator, **more: str) -> dict[str, str]:
    """A CI job configured for a person's sign-in (a Connected App), with no credential."""
    return ci_env(
        emulator,
        STYTCH_CLIENT_ID=emulator.client_id,
        STYTCH_AUTHORIZE_URL=emulator.authorize_url,
        **more,
    )


@pytest.fixture
def machine(
    stytch_zero_env: StytchEmulator, stytch_m2m_client: ClientCredentials
) -> dict[str, str]:
    assert stytch_m2m_client.client_secret is not None
    return ci_env(
        stytch_zero_env,
        STYTCH_CLIENT_ID=stytch_m2m_client.client_id,
        STYTCH_CLIENT_SECRET=stytch_m2m_client.client_secret,
    )


def test_token_json_and_formats(machine: dict[str, str], stytch_zero_env: StytchEmulator) -> None:
    result = run([*CLI, "token", "--json"], machine)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    token = info["access_token"]
    claims = stytch_zero_env.verify_access_token(token)
    assert info["token_type"] == "Bearer"
    assert info["expires_at_epoch"] == claims["exp"]
    assert info["expires_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["exp"]))
    assert info["scopes"] == ["read:data", "write:data"]
    assert info["subject"] == machine["STYTCH_CLIENT_ID"]
    assert info["organization_id"] is None
    assert "client credentials" in info["source"]
    assert machine["STYTCH_CLIENT_SECRET"] not in result.stdout + result.stderr
    # The cached token, in each format.
    header = run([*CLI, "token", "--format", "header"], machine).stdout
    assert header == f"Authorization: Bearer {token}\n"
    env_line = run([*CLI, "token", "--format", "env", "--env", "API_TOKEN"], machine).stdout
    assert env_line == f"API_TOKEN={token}\n"
    headers = json.loads(run([*CLI, "token", "--format", "headers-json"], machine).stdout)
    assert headers == {"Authorization": f"Bearer {token}"}
    assert run([*CLI, "token"], machine).stdout == token + "\n"
    assert stytch_zero_env.counters["token_client_credentials"] == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "--json"],
        ["status", "--json"],
        ["token"],
        ["status", "--json", "--profile", "nope"],
    ],
)
def test_output_nobody_reads_or_no_disk_takes_is_no_traceback(
    machine: dict[str, str], argv: list[str]
) -> None:
    """``token --json | head -c 1``: the reader is gone, so nothing more is said (as ``cat``);
    a full disk under stdout is one line with the system's reason. Never a traceback."""
    assert run([*CLI, "token"], machine).returncode == 0  # a token to print
    read, write = os.pipe()
    os.close(read)  # the reader went away before the first byte
    try:
        gone = run([*CLI, *argv], machine, stdout=write)
    finally:
        os.close(write)
    assert (gone.returncode, gone.stderr) == (1, ""), gone.stderr
    if not os.path.exists("/dev/full"):
        return
    with open("/dev/full", "w") as full:
        result = run([*CLI, *argv], machine, stdout=full)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    said = "Profile 'nope'" if "nope" in argv else "No space left on device"  # its own error
    assert said in line and line.startswith("stytch-connected: error: "), line


def test_status_json_has_the_same_fields_but_the_token(
    machine: dict[str, str], stytch_zero_env: StytchEmulator
) -> None:
    token_info = json.loads(run([*CLI, "token", "--json"], machine).stdout)
    result = run([*CLI, "status", "--json"], machine)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert "access_token" not in status
    assert token_info["access_token"] not in result.stdout + result.stderr
    for name in ("expires_at", "expires_at_epoch", "scopes", "subject", "source", "token_type"):
        assert status[name] == token_info[name]
    human = run([*CLI, "status"], machine)
    assert "Token from:" in human.stdout and "client credentials" in human.stdout
    assert token_info["access_token"] not in human.stdout + human.stderr


def test_status_says_a_token_was_supplied(stytch_zero_env: StytchEmulator, tmp_path: Path) -> None:
    env = ci_env(stytch_zero_env, STYTCH_ACCESS_TOKEN="abc.def.ghi")
    result = run([*CLI, "status"], env)
    assert result.returncode == 0, result.stderr
    assert "supplied (environment variable STYTCH_ACCESS_TOKEN)" in result.stdout
    assert "abc.def.ghi" not in result.stdout + result.stderr
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    token_file.chmod(0o600)
    env = ci_env(stytch_zero_env, STYTCH_ACCESS_TOKEN_FILE=str(token_file))
    assert run([*CLI, "token"], env).stdout == "from-a-file\n"
    token_file.chmod(0o644)
    refused = run([*CLI, "token"], env)
    assert refused.returncode == 1 and "chmod 600" in refused.stderr
    assert "from-a-file" not in refused.stderr


def test_exec_puts_a_fresh_token_in_the_childs_environment_and_returns_its_status(
    machine: dict[str, str], stytch_zero_env: StytchEmulator, tmp_path: Path
) -> None:
    out = tmp_path / "seen"
    child = f'printf %s "$STYTCH_ACCESS_TOKEN" > {out}; exit 7'
    result = run([*CLI, "exec", "--", "sh", "-c", child], machine)
    assert result.returncode == 7, result.stderr
    token = out.read_text()
    assert stytch_zero_env.verify_access_token(token)["sub"] == machine["STYTCH_CLIENT_ID"]
    assert token not in result.stdout + result.stderr  # never printed
    named = run(
        [*CLI, "exec", "--env", "API_TOKEN", "--", "sh", "-c", 'test "$API_TOKEN"'], machine
    )
    assert named.returncode == 0, named.stderr


def test_exec_hands_the_command_the_token_not_the_secret(
    machine: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "seen"
    child = f'printf %s "${{STYTCH_CLIENT_SECRET-withheld}} $STYTCH_CLIENT_ID" > {out}'
    result = run([*CLI, "exec", "--", "sh", "-c", child], machine)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == f"withheld {machine['STYTCH_CLIENT_ID']}"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and sh")
@pytest.mark.parametrize(
    ("signal_name", "to_group", "status"),
    [("SIGINT", True, 3), ("SIGTERM", False, 4), ("SIGHUP", False, 5)],
)
def test_exec_lets_the_command_handle_ctrl_c_and_passes_on_termination(
    machine: dict[str, str], tmp_path: Path, signal_name: str, to_group: bool, status: int
) -> None:
    """As a shell waits for its foreground job: Ctrl-C (SIGINT to the terminal's whole group)
    is the command's to handle, and SIGTERM/SIGHUP sent to exec alone (``timeout``, a CI
    runner cancelling the step) reach the command; exec returns the status it exits with after
    its cleanup, never killing it mid-way."""
    import signal

    from tests.lifecycle import wait_for

    started = tmp_path / "started"
    child = (
        'trap "echo cleaned; exit 3" INT; trap "echo cleaned; exit 4" TERM; '
        f'trap "echo cleaned; exit 5" HUP; touch {started}; while :; do sleep 0.05; done'
    )
    process = subprocess.Popen(
        [*CLI, "exec", "--", "sh", "-c", child],
        env=machine,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    try:
        wait_for(started.exists, timeout=30)
        number = getattr(signal, signal_name)
        if to_group:
            os.killpg(process.pid, number)
        else:
            process.send_signal(number)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    assert (process.returncode, out, err) == (status, "cleaned\n", "")


def test_exec_renews_a_token_that_would_expire_during_start_up(
    machine: dict[str, str], stytch_zero_env: StytchEmulator, tmp_path: Path
) -> None:
    stytch_zero_env.m2m_access_token_ttl = 30  # < 60 s: too short for the command's start-up
    run([*CLI, "token"], machine)
    out = tmp_path / "seen"
    result = run(
        [*CLI, "exec", "--", "sh", "-c", f'printf %s "$STYTCH_ACCESS_TOKEN" > {out}'], machine
    )
    assert result.returncode == 0, result.stderr
    assert stytch_zero_env.counters["token_client_credentials"] == 2


def test_config_shows_only_that_a_secret_is_set(machine: dict[str, str]) -> None:
    result = run([*CLI, "config"], machine)
    assert result.returncode == 0, result.stderr
    assert machine["STYTCH_CLIENT_SECRET"] not in result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("client_secret ")]
    assert "= set  (environment variable STYTCH_CLIENT_SECRET)" in line


def test_config_shows_that_a_machine_client_sends_no_scope_of_a_person(
    machine: dict[str, str],
) -> None:
    result = run([*CLI, "config"], machine)
    [line] = [line for line in result.stdout.splitlines() if line.startswith("scopes ")]
    assert "= (none: the machine client's own)  (default)" in line, result.stdout


def test_a_machine_token_in_the_cache_is_never_handed_out_for_a_person(
    machine: dict[str, str], stytch_zero_env: StytchEmulator
) -> None:
    """The same settings with the authorization code grant are a person's: the cached machine
    token is not theirs (here, in CI, that means no token at all)."""
    assert run([*CLI, "token"], machine).returncode == 0
    person = {**machine, "STYTCH_GRANT_TYPE": "authorization_code"}
    result = run([*CLI, "token", "--json"], person)
    assert result.returncode == 1 and result.stdout == "", result.stdout
    assert "No browser can be opened here" in result.stderr


def test_a_refused_scope_is_named_not_withheld_as_a_secret(machine: dict[str, str]) -> None:
    """The scopes we send are no secret: the provider's reason for refusing them is shown."""
    result = run([*CLI, "token"], {**machine, "STYTCH_SCOPES": "offline_access"})
    assert result.returncode == 1 and "invalid_scope" in result.stderr
    assert "withheld" not in result.stderr, result.stderr
    assert machine["STYTCH_CLIENT_SECRET"] not in result.stderr


@pytest.mark.parametrize("secret", ["", None])
def test_an_m2m_client_whose_secret_did_not_arrive_is_named_at_once(
    machine: dict[str, str], stytch_zero_env: StytchEmulator, secret: str | None
) -> None:
    env = {k: v for k, v in machine.items() if k != "STYTCH_CLIENT_SECRET"}
    if secret is not None:
        env["STYTCH_CLIENT_SECRET"] = secret
    result = run([*CLI, "token"], env)
    assert result.returncode == 1 and result.stdout == ""
    assert "is a Stytch M2M client but no client secret is set" in result.stderr
    assert stytch_zero_env.counters["authorize_page"] == 0


def test_logout_with_a_machine_credential_forgets_the_cached_token(
    machine: dict[str, str], stytch_zero_env: StytchEmulator
) -> None:
    run([*CLI, "token"], machine)
    result = run([*CLI, "logout"], machine)
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr.startswith("Forgot the cached access token; a machine credential")
    run([*CLI, "token"], machine)  # not from the cache: a new one
    assert stytch_zero_env.counters["token_client_credentials"] == 2


def test_logout_with_a_supplied_token_names_where_it_comes_from(
    stytch_zero_env: StytchEmulator,
) -> None:
    env = ci_env(stytch_zero_env, STYTCH_ACCESS_TOKEN="abc.def.ghi")
    result = run([*CLI, "logout"], env)
    assert result.returncode == 0 and "abc.def.ghi" not in result.stderr
    assert result.stderr == (
        "Nothing to sign out of: the access token comes from environment variable "
        "STYTCH_ACCESS_TOKEN; remove it there to stop sending it.\n"
    )


@pytest.mark.parametrize("token", ["SECRETTOK\r\nX-Evil: 1", "SECRETTOK b", "SECRETTOK\x1b[2J"])
def test_a_supplied_token_that_is_no_bearer_credential_is_refused_unshown(
    stytch_zero_env: StytchEmulator, stytch_resource_server: ResourceServer, token: str
) -> None:
    env = ci_env(stytch_zero_env, STYTCH_ACCESS_TOKEN=token)
    url = stytch_resource_server.url
    for argv in (
        [*CLI, "token", "--format", "header"],
        [sys.executable, "-c", SCRIPT, url],
        [sys.executable, "-c", HTTPX_SCRIPT, url],
        [*HTTP, "--ignore-stdin", "-A", "stytch", "GET", url],
    ):
        result = run(argv, env)
        assert result.returncode != 0 and "X-Evil" not in result.stdout, argv
        assert "is not an RFC 6750 b64token" in result.stderr, (argv, result.stderr)
        assert "SECRETTOK" not in result.stdout + result.stderr


def test_a_ci_run_with_a_machine_credential_gets_200_everywhere(
    machine: dict[str, str],
    stytch_zero_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
) -> None:
    url = stytch_resource_server.url
    outputs = []
    for name, script in LIBRARY_SCRIPTS.items():
        result = run([sys.executable, "-c", script, url], machine)
        assert result.stdout == "200\n", (name, result.stderr)
        outputs.append(result.stdout + result.stderr)
    httpie = run([*HTTP, "--ignore-stdin", "-A", "stytch", "GET", url], machine)
    assert httpie.returncode == 0 and json.loads(httpie.stdout)["resources"], httpie.stderr
    login = run([*CLI, "login"], machine)
    assert login.returncode == 0, login.stderr
    child = 'test -n "$STYTCH_ACCESS_TOKEN"'
    executed = run([*CLI, "exec", "--", "sh", "-c", child], machine)
    assert executed.returncode == 0, executed.stderr
    outputs += [r.stdout + r.stderr for r in (httpie, login, executed)]
    printed = run([*CLI, "token"], machine)  # its job is to print the token, never the secret
    assert printed.returncode == 0 and printed.stdout.strip(), printed.stderr
    assert machine["STYTCH_CLIENT_SECRET"] not in printed.stdout + printed.stderr
    tokens = stytch_resource_server.tokens_seen
    assert tokens
    for output in outputs:
        for secret in (machine["STYTCH_CLIENT_SECRET"], *tokens, printed.stdout.strip()):
            assert secret not in output
    assert stytch_zero_env.counters["authorize_page"] == 0


def test_a_ci_run_without_any_credential_fails_at_once_naming_the_three_ways_out(
    stytch_zero_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    env = person_ci_env(stytch_zero_env)
    url = stytch_resource_server.url
    for argv in (
        [*CLI, "token"],
        [*CLI, "exec", "--", "true"],
        [*CLI, "login"],
        *([sys.executable, "-c", script, url] for script in LIBRARY_SCRIPTS.values()),
        [*HTTP, "--ignore-stdin", "-A", "stytch", "GET", url],
    ):
        started = time.monotonic()
        result = run(argv, env, timeout=30)
        took = time.monotonic() - started
        assert result.returncode != 0, argv
        assert took < FAST, (argv, took)
        text = result.stderr
        for way in ("machine credential", "supply a token", "sign in elsewhere first"):
            assert way in text, (argv, text)
    assert stytch_zero_env.counters["authorize_page"] == 0


@pytest.mark.parametrize("empty", ["STYTCH_ACCESS_TOKEN", "STYTCH_CLIENT_SECRET"])
def test_a_ci_job_whose_secret_did_not_arrive_is_told_which_variable_is_empty(
    stytch_zero_env: StytchEmulator, stytch_resource_server: ResourceServer, empty: str
) -> None:
    """A pull request from a fork, or a secret not granted to the job: the variable is set to
    ''. The three ways out alone would send the reader to the one they already took."""
    env = person_ci_env(stytch_zero_env, **{empty: ""})
    url = stytch_resource_server.url
    for argv in (
        [*CLI, "token"],
        [sys.executable, "-c", SCRIPT, url],
        [*HTTP, "--ignore-stdin", "-A", "stytch", "GET", url],
    ):
        text = run(argv, env, timeout=30).stderr
        assert "machine credential" in text, (argv, text)
        said = f"({empty} is set but empty: in CI, check that the job receives the secret)."
        assert said in text, (argv, text)


def test_a_ci_run_in_zero_configuration_names_the_ways_out_that_apply_there(
    stytch_zero_env: StytchEmulator,
) -> None:
    """Nothing configured: the sign-in is ``login --resource``, and a machine credential needs
    the provider configured with it (a secret alone would not be used)."""
    drop = ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["CI"] = "true"
    with example_api(stytch_zero_env) as api:
        for argv in (  # the script first: it finds the API from its 401 (nothing cached yet)
            [sys.executable, "-c", SCRIPT, api.url],
            [*CLI, "login", "--resource", api.url],
            [*HTTP, "--ignore-stdin", "-A", "stytch", "GET", api.url],
        ):
            text = run(argv, env, timeout=30).stderr
            assert f"`stytch-connected login --resource {api.origin}" in text, (argv, text)
            assert "configure the provider (STYTCH_ISSUER or STYTCH_PROJECT_DOMAIN)" in text
            assert "Signing in to" not in text, text  # no sign-in is announced that cannot start
    assert stytch_zero_env.counters["authorize_page"] == 0


@pytest.mark.parametrize("name", ["A=B", "1X", "A B", ""])
def test_exec_refuses_a_variable_name_the_environment_cannot_hold_before_any_sign_in(
    machine: dict[str, str], name: str
) -> None:
    for argv in (
        ["exec", "--env", name, "--", "true"],
        ["token", "--format", "env", "--env", name],
    ):
        result = run([*CLI, *argv], machine)
        assert result.returncode != 0 and not result.stdout
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "--env" in lines[0] and "unexpectedly" not in lines[0], lines


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "--json", "--format", "header"],
        ["token", "--env", "API_TOKEN"],
        ["token", "--format", "header", "--env", "API_TOKEN"],
    ],
    ids=["json-and-format", "env-without-format", "env-with-another-format"],
)
def test_token_options_that_cannot_both_hold_are_a_usage_error_not_a_token(
    machine: dict[str, str], argv: list[str]
) -> None:
    """``--json`` with ``--format``, or ``--env NAME`` with any output but ``--format env``,
    used to print a token in the form the other option did not ask for (``--env`` ignored):
    a script got what it did not expect, on stdout. Now a usage error, and no token."""
    result = run([*CLI, *argv], machine)
    assert result.returncode == 2 and result.stdout == "", result.stdout
    assert "usage: stytch-connected token" in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("stytch-connected token: error: ")


def status_json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """``status --json``'s one object; nothing else on stdout, nothing on stderr."""
    info = json.loads(result.stdout)
    assert isinstance(info, dict), result.stdout
    assert result.stderr == "", result.stderr
    return info


def test_status_json_says_why_when_nothing_is_configured(stytch_zero_env: StytchEmulator) -> None:
    env = ci_env(stytch_zero_env)
    del env["STYTCH_PROJECT_DOMAIN"]
    plain = run([*CLI, "status"], env)
    result = run([*CLI, "status", "--json"], env)
    assert result.returncode == plain.returncode == 1
    info = status_json(result)
    assert info["signed_in"] is False and info["error"] == "not_configured"
    assert info["message"] == plain.stderr.strip().removeprefix("stytch-connected: error: ")
    assert str(info["message"]).count(". ") == 0  # one sentence


def test_status_json_says_why_when_not_signed_in(stytch_env: StytchEmulator) -> None:
    plain = run([*CLI, "status"], dict(os.environ))
    result = run([*CLI, "status", "--json"], dict(os.environ))
    assert result.returncode == plain.returncode == 1
    info = status_json(result)
    assert info["signed_in"] is False and info["error"] == "not_signed_in"
    assert "run `stytch-connected login`" in str(info["message"])
    assert info["profile"] is None and info["resource"] is None


def test_status_json_says_why_for_any_error(stytch_env: StytchEmulator) -> None:
    result = run([*CLI, "status", "--json", "--login-timeout", "soon"], dict(os.environ))
    assert result.returncode == 1
    info = status_json(result)
    assert info["signed_in"] is False and info["error"] == "configuration"
    assert "login_timeout from argument is invalid" in str(info["message"])


@pytest.mark.parametrize("command", ["no-such-command-x7", "./no-such-command-x7"])
def test_exec_of_a_command_that_is_not_found_exits_127_before_any_token(
    machine: dict[str, str], stytch_zero_env: StytchEmulator, tmp_path: Path, command: str
) -> None:
    result = subprocess.run(
        [*CLI, "exec", "--", command, "arg"],
        env=machine,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 127 and result.stdout == ""
    assert result.stderr == (
        f"stytch-connected: error: {command}: command not found; check its name and PATH, "
        "or give its path.\n"
    )
    assert stytch_zero_env.counters["token_client_credentials"] == 0  # a typo costs no token


def test_exec_of_a_command_that_cannot_be_executed_exits_126(
    machine: dict[str, str], stytch_zero_env: StytchEmulator, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    plain = bin_dir / "not-executable-x7"
    plain.write_text("#!/bin/sh\nexit 0\n")
    plain.chmod(0o644)
    env = {**machine, "PATH": f"{bin_dir}{os.pathsep}{machine['PATH']}"}
    for command in ("not-executable-x7", str(plain), str(bin_dir)):
        result = run([*CLI, "exec", "--", command], env)
        assert result.returncode == 126, (command, result.stderr)
        [line] = result.stderr.splitlines()
        assert line.startswith(f"stytch-connected: error: {command}: "), line
        assert "not executable; make it executable (chmod +x)" in line or "directory" in line
    assert stytch_zero_env.counters["token_client_credentials"] == 0
    # Executable, but no program the system can start (no #! line, no binary): as a shell, 126.
    odd = bin_dir / "no-format-x7"
    odd.write_bytes(b"\x00\x01\x02\x03")
    odd.chmod(0o755)
    result = run([*CLI, "exec", "--", str(odd)], env)
    assert result.returncode == 126, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"stytch-connected: error: {odd}: cannot be run ("), line


def test_a_second_machine_logout_says_there_is_nothing_left_to_forget(
    machine: dict[str, str], stytch_zero_env: StytchEmulator
) -> None:
    assert run([*CLI, "token"], machine).returncode == 0
    first = run([*CLI, "logout"], machine)
    assert first.returncode == 0 and first.stderr.startswith("Forgot the cached access token")
    second = run([*CLI, "logout"], machine)
    assert second.returncode == 0 and second.stdout == ""
    assert second.stderr == (
        "Not signed in: no access token is cached for the machine credential, so there was "
        "nothing to forget (remove the credential to stop getting new ones).\n"
    )
    assert stytch_zero_env.counters["token_client_credentials"] == 1


def test_a_second_logout_of_a_supplied_token_says_the_same(
    stytch_zero_env: StytchEmulator,
) -> None:
    env = ci_env(stytch_zero_env, STYTCH_ACCESS_TOKEN="abc.def.ghi")
    first, second = (run([*CLI, "logout"], env) for _ in range(2))
    assert first.stderr == second.stderr and second.stderr.startswith("Nothing to sign out of")


def test_an_expired_supplied_token_is_neither_printed_nor_handed_to_a_command(
    stytch_zero_env: StytchEmulator, tmp_path: Path
) -> None:
    expired = supplied_jwt(exp=int(time.time()) - 600)
    token_file = tmp_path / "token"
    token_file.write_text(expired + "\n")
    token_file.chmod(0o600)
    ran = tmp_path / "ran"
    for where, env in (
        ("environment variable STYTCH_ACCESS_TOKEN", {"STYTCH_ACCESS_TOKEN": expired}),
        (f"the file {token_file}", {"STYTCH_ACCESS_TOKEN_FILE": str(token_file)}),
    ):
        env = ci_env(stytch_zero_env, **env)
        for argv in (
            ["token"],
            ["token", "--json"],
            ["token", "--format", "header"],
            ["exec", "--", "sh", "-c", f"touch {ran}"],
        ):
            line = one_line_error(run([*CLI, *argv], env))
            assert f"The access token from {where}" in line, line
            assert "expired 10 minutes" in line and "supply a fresh one" in line, line
            assert expired not in line
        assert not ran.exists()  # the command never started with a dead token
        status = run([*CLI, "status"], env)
        assert status.returncode == 0, status.stderr
        shown = rows(status.stdout)["Access token"]
        assert shown.startswith("expired 10 minutes") and "supply a fresh one" in shown, shown
        assert "sign in again" not in shown and expired not in status.stdout + status.stderr
    fresh = supplied_jwt(exp=int(time.time()) + 600)  # the same check lets a live one through
    assert run([*CLI, "token"], ci_env(stytch_zero_env, STYTCH_ACCESS_TOKEN=fresh)).stdout == (
        fresh + "\n"
    )


def test_a_supplied_tokens_scopes_are_its_own_or_unknown(
    stytch_zero_env: StytchEmulator,
) -> None:
    for token, scopes in (
        ("opaque-token", None),  # not the configured ones it might not have
        (supplied_jwt(scope="read:data"), ["read:data"]),
    ):
        env = ci_env(stytch_zero_env, STYTCH_ACCESS_TOKEN=token, STYTCH_SCOPES="write:data")
        for argv in (["token", "--json"], ["status", "--json"]):
            result = run([*CLI, *argv], env)
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["scopes"] == scopes, argv


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("missing", "which does not exist or is not text"),
        ("empty", "which is empty"),
        ("directory", "is a directory; point access_token_file at a file"),
        ("readable by others", "which other users can read (mode 0644); run `chmod 600"),
        ("not text", "which does not exist or is not text"),
        ("two tokens", "is not an RFC 6750 b64token"),
    ],
)
def test_a_token_file_that_cannot_be_used_is_one_line_naming_it_everywhere(
    stytch_zero_env: StytchEmulator,
    stytch_resource_server: ResourceServer,
    tmp_path: Path,
    case: str,
    said: str,
) -> None:
    """Never a traceback, a browser or the file's content: one line naming the file and the
    fix, from the command and HTTPie (a library script gets the same ConfigurationError)."""
    path = tmp_path / "token"
    content = {"empty": "", "readable by others": "TOKENTEXT", "two tokens": "TOKENTEXT\nX\n"}
    if case == "directory":
        path.mkdir()
    elif case == "not text":
        path.write_bytes(b"\xff\xfeTOKENTEXT")
    elif case in content:
        path.write_text(content[case])
    if path.is_file():
        path.chmod(0o644 if case == "readable by others" else 0o600)
    env = ci_env(stytch_zero_env, STYTCH_ACCESS_TOKEN_FILE=str(path))
    for argv in (["token"], ["exec", "--", "true"], ["status"], ["login"]):
        line = one_line_error(run([*CLI, *argv], env))
        assert str(path) in line and said in line, (argv, line)
        assert "TOKENTEXT" not in line
    httpie = run([*HTTP, "--ignore-stdin", "-A", "stytch", "GET", stytch_resource_server.url], env)
    [line] = [text for text in httpie.stderr.splitlines() if text]  # HTTPie pads with blanks
    assert httpie.returncode == 1 and str(path) in line and said in line, httpie.stderr
    assert "TOKENTEXT" not in httpie.stdout + httpie.stderr
    assert stytch_zero_env.counters["authorize_page"] == 0


def test_token_json_names_a_stytch_b2b_tokens_organization(
    stytch_zero_env: StytchEmulator,
) -> None:
    """Stytch B2B access tokens carry the member's organization in their own claim."""
    exp = int(time.time()) + 600
    organization = {"organization_id": "organization-test-1", "slug": "acme"}
    token = supplied_jwt(exp=exp, **{"https://stytch.com/organization": organization})
    env = ci_env(stytch_zero_env, STYTCH_ACCESS_TOKEN=token)
    info = json.loads(run([*CLI, "token", "--json"], env).stdout)
    assert info["organization_id"] == "organization-test-1" and info["subject"] == "user-x"
    assert info["expires_at_epoch"] == exp
    assert info["expires_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))
    status = json.loads(run([*CLI, "status", "--json"], env).stdout)
    assert status["organization_id"] == "organization-test-1" and "access_token" not in status


def test_a_ci_run_whose_stored_sign_in_was_revoked_says_so_in_its_one_error(
    stytch_env: StytchEmulator, stytch_resource_server: ResourceServer
) -> None:
    """A runner that holds a person's sign-in (``stytch-connected login`` run on it earlier)
    whose grant was revoked: the refresh is refused, no sign-in can happen here, and the one
    error says why a sign-in was needed; nothing announces a sign-in that will not happen."""
    url = stytch_resource_server.url
    auth = StytchAuth(opener=scripted_opener(), notify=lambda _: None)
    assert requests.get(url, auth=auth, timeout=30).status_code == 200
    stytch_env.revoke_all()
    expire_stored(auth.manager.key)
    env = person_ci_env(stytch_env)
    for argv in (
        [*CLI, "token"],
        *([sys.executable, "-c", script, url] for script in LIBRARY_SCRIPTS.values()),
        [*HTTP, "--ignore-stdin", "-A", "stytch", "GET", url],
    ):
        result = run(argv, env, timeout=30)
        assert result.returncode != 0, argv
        assert "signing in again" not in result.stderr, (argv, result.stderr)
        last = result.stderr.strip().splitlines()[-1]
        assert "Your session has expired" in last and "sign in elsewhere first" in last, last
    one_line_error(run([*CLI, "token"], env, timeout=30))
    assert stytch_env.counters["authorize_page"] == 1  # the first sign-in only
