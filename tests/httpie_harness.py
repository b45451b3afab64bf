"""Run HTTPie in-process, as its own test suite does: ``httpie.core.main`` with an Environment
whose stdout and stderr are files we can read back."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from httpie.context import Environment
from httpie.core import main


@dataclass(frozen=True)
class Result:
    status: int
    stdout: str
    stderr: str


class _Env(Environment):  # type: ignore[misc]
    colors = 0
    stdin_isatty = True
    stdout_isatty = False
    show_displays = False

    def __init__(self, config_dir: Path, **kwargs: Any) -> None:
        super().__init__(
            stdin=None,
            stdout=tempfile.TemporaryFile("w+t", encoding="utf-8", newline=""),  # noqa: SIM115
            stderr=tempfile.TemporaryFile("w+t", encoding="utf-8"),  # noqa: SIM115
            config_dir=config_dir,
            **kwargs,
        )


def http(*args: str, config_dir: Path, keep_config: bool = False) -> Result:
    """``keep_config``: use the config.json already in ``config_dir`` (else a quiet one)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    if not keep_config:
        (config_dir / "config.json").write_text('{"disable_update_warnings": true}')
    env = _Env(config_dir)
    with env.stdout, env.stderr:
        status = main(["http", "--ignore-stdin", "--timeout=30", *args], env=env)
        env.stdout.seek(0)
        env.stderr.seek(0)
        return Result(int(status), env.stdout.read(), env.stderr.read())


# -- HTTPie as a subprocess: the ``httpie`` entry of ``tests.adapters.ADAPTERS`` --------------
ROOT = Path(__file__).resolve().parents[1]
#: Where the child writes what it saw: each ``Session.send``'s answers, history first.
RECORD = "HTTPIE_HARNESS_RECORD"


@dataclass(frozen=True)
class Seen:
    """One answer HTTPie's requests session got (``status_code`` for ``Answer.history``)."""

    status_code: int


def run_http(
    args: list[str], env: dict[str, str], body: bytes | None, timeout: float
) -> tuple[Result, list[Seen]]:
    """``http ARGS`` in a child process (the real entry point, plugins loaded from their entry
    points) with ``env``; ``body`` on stdin. Returns its output and every answer it received,
    redirects and the answers our hooks replaced included, in order."""
    import json
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as scratch:
        record = Path(scratch) / "record.json"
        stdin = [] if body is not None else ["--ignore-stdin"]
        done = subprocess.run(
            [sys.executable, "-m", "tests.httpie_harness", *stdin, *args],
            input=body if body is not None else b"",
            capture_output=True,
            cwd=ROOT,
            env={**env, RECORD: str(record)},
            timeout=timeout,
            check=False,
        )
        seen = json.loads(record.read_text()) if record.exists() else []
    result = Result(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )
    return result, [Seen(status) for status in seen]


def _child() -> int:
    """``python -m tests.httpie_harness ARGS``: HTTPie's ``main`` with ``sys.argv``, recording
    the status of every answer (and its history) its requests session receives."""
    import json
    import os
    import sys

    import httpie.client
    import requests

    statuses: list[int] = []
    build = httpie.client.build_requests_session

    def recording_session(*args: Any, **kwargs: Any) -> requests.Session:
        """HTTPie's own session (not the provider calls'), each answer recorded."""
        session: requests.Session = build(*args, **kwargs)
        send = session.send

        def recording(request: Any, **options: Any) -> requests.Response:
            response: requests.Response = send(request, **options)
            statuses.extend([*(r.status_code for r in response.history), response.status_code])
            return response

        session.send = recording  # type: ignore[method-assign]
        return session

    httpie.client.build_requests_session = recording_session
    try:
        return int(main(["http", "--timeout=30", *sys.argv[1:]]))
    finally:
        Path(os.environ[RECORD]).write_text(json.dumps(statuses))


if __name__ == "__main__":
    raise SystemExit(_child())
