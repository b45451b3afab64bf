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
