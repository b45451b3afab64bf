"""The shipped pytest fixtures, used as a user would: a separate pytest run, a hostile shell.

``stytch_env`` must pass the README's own example whatever the shell holds, and
``stytch_keyring`` must leave keyring exactly as it found it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"

#: What a developer's shell may hold that changes the sign-in flow.
HOSTILE_SHELL = {
    "STYTCH_NO_BROWSER": "1",
    "STYTCH_REDIRECT_PATH": "/cb",
    "STYTCH_PROFILE": "work",
    "STYTCH_SCOPES": "admin",
    "STYTCH_LOGIN_TIMEOUT": "1",
    "STYTCH_LEEWAY": "99999",
    "STYTCH_TOKEN_STORE": "file",
    "STYTCH_ISSUER": "https://idp.invalid",
    "STYTCH_TOKEN_ENDPOINT": "https://idp.invalid/token",
    "STYTCH_PROJECT_DOMIAN": "https://typo.invalid",
    "STYTCH_UA_DECISION": "deny",
    "STYTCH_TEST_KEYRING_FAULT": "fail",
    "SSH_CONNECTION": "10.0.0.1 50000 10.0.0.2 22",
    "SSH_TTY": "/dev/pts/9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
}

#: A keyring backend of the user's own, in memory, chosen with PYTHON_KEYRING_BACKEND.
MEMORY_BACKEND = """
from keyring.backend import KeyringBackend

class Memory(KeyringBackend):
    priority = 1
    values = {}

    def get_password(self, service, username):
        return self.values.get((service, username))

    def set_password(self, service, username, password):
        self.values[(service, username)] = password

    def delete_password(self, service, username):
        del self.values[(service, username)]
"""

#: A tool's test that runs ``http`` as its users do.
HTTP_TEST = """
import subprocess, sys
from pathlib import Path

def test_http(stytch_env, stytch_resource_server):
    http = Path(sys.executable).with_name("http")
    command = [str(http), "--check-status", "-A", "stytch", "GET", stytch_resource_server.url]
    done = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
"""

KEYRING_TESTS = """
import keyring

def test_1_with_the_fixture(stytch_keyring):
    keyring.set_password("svc", "user", "isolated")

def test_2_after_it():
    keyring.set_password("svc", "user", "mine")
    assert keyring.get_password("svc", "user") == "mine"
    assert type(keyring.get_keyring()).__name__ == "Memory"
"""


def run_pytest(directory: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=directory,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def clean_env() -> dict[str, str]:
    """This run's environment without what our own fixtures set around this test."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STYTCH_", "PYTEST_")) and k not in ("PYTHON_KEYRING_BACKEND",)
    }


def passes_as_a_users_test(document: Path, heading: str, tmp_path: Path) -> None:
    """The first Python block after ``heading`` in ``document``, run as a user's own test file
    in a hostile shell: the documented example passes as written."""
    section = document.read_text(encoding="utf-8").split(heading, 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S)
    assert example is not None
    (tmp_path / "test_documented_example.py").write_text(example.group(1), encoding="utf-8")
    result = run_pytest(tmp_path, {**clean_env(), **HOSTILE_SHELL})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_readme_fixture_example_passes_whatever_the_shell_holds(tmp_path: Path) -> None:
    passes_as_a_users_test(README, "## Testing your own tools", tmp_path)


def test_the_testing_guides_ci_example_passes_with_no_browser(tmp_path: Path) -> None:
    """docs/guides/testing.md's machine-credential example (issue 19: users' tests of a CI
    path)."""
    guide = README.parent / "docs" / "guides" / "testing.md"
    passes_as_a_users_test(guide, "## A CI path", tmp_path)


def test_a_test_that_runs_http_ignores_the_users_httpie_config(tmp_path: Path) -> None:
    config = tmp_path / "httpie-config"
    config.mkdir()
    # A habit from the field: default options in HTTPie's config, here a proxy.
    options = {"default_options": ["--proxy=http:http://127.0.0.1:9"]}
    (config / "config.json").write_text(json.dumps(options), encoding="utf-8")
    (tmp_path / "test_tool.py").write_text(HTTP_TEST, encoding="utf-8")
    result = run_pytest(tmp_path, {**clean_env(), "HTTPIE_CONFIG_DIR": str(config)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_keyring_is_exactly_as_before_once_stytch_keyring_ends(tmp_path: Path) -> None:
    (tmp_path / "memory_backend.py").write_text(MEMORY_BACKEND, encoding="utf-8")
    (tmp_path / "test_keyring_after.py").write_text(KEYRING_TESTS, encoding="utf-8")
    env = {
        **clean_env(),
        "PYTHON_KEYRING_BACKEND": "memory_backend.Memory",
        "PYTHONPATH": str(tmp_path),
    }
    result = run_pytest(tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
