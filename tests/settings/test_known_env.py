"""Every ``STYTCH_*`` variable the package reads is known to ``config`` (not called a stray)."""

import re
from pathlib import Path

import httpie_stytch_connected
from httpie_stytch_connected.settings.options import KNOWN_ENV

_READ = re.compile(r"""(?:environ(?:\.get)?|getenv)\s*[\[(]\s*["'](STYTCH_[A-Z0-9_]+)["']""")


def test_every_stytch_variable_read_by_the_package_is_known() -> None:
    root = Path(httpie_stytch_connected.__file__).parent
    read = {m for f in root.rglob("*.py") for m in _READ.findall(f.read_text(encoding="utf-8"))}
    assert read, "the pattern found no reads at all"
    assert sorted(read - KNOWN_ENV) == []
