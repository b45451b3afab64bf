"""The settings table of ``docs/guides/configuration.md`` lists exactly the settings registry
(:data:`OPTIONS`), in its order, each with its environment variable and a line of meaning: a
new setting without documentation fails here."""

from __future__ import annotations

import re
from pathlib import Path

from httpie_stytch_connected.settings.options import OPTIONS

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "configuration.md"
_ROW = re.compile(r"^\|\s*`(?P<name>[a-z_]+)`\s*\|\s*`(?P<env>STYTCH_[A-Z_]+)`\s*\|(?P<rest>.*)\|$")


def documented() -> list[tuple[str, str, list[str]]]:
    """(setting, variable, [what, default]) for each row of the settings table."""
    rows = []
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        if found := _ROW.match(line.strip()):
            cells = [c.strip() for c in found["rest"].split(" | ")]
            rows.append((found["name"], found["env"], cells))
    return rows


def test_the_settings_table_lists_every_setting_with_its_variable_in_order() -> None:
    rows = documented()
    assert [(name, env) for name, env, _ in rows] == [(o.name, o.env) for o in OPTIONS]


def test_each_documented_setting_says_what_it_is_and_its_default() -> None:
    for name, _, cells in documented():
        assert len(cells) == 2 and all(cells), (name, cells)


_ROOT = GUIDE.parents[2]
_CALL = re.compile(r"\b(?:StytchAuth|OAuth2PKCEAuth)\(([^()]*)\)")


def test_every_keyword_a_documented_call_passes_is_one_the_classes_take() -> None:
    """A snippet in the docs or in a public module's docstrings that passes the auth classes a
    keyword they refuse (``token_url=``, as the httpx class's docstring once did) fails."""
    from httpie_stytch_connected.managed import _PARTS

    known = {o.name for o in OPTIONS} | set(_PARTS) | {"project_domian"}  # shown as refused
    sources = [_ROOT / "README.md", *sorted((_ROOT / "docs").rglob("*.md"))]
    sources += sorted((_ROOT / "httpie_stytch_connected").glob("*.py"))
    refused = [
        (path.relative_to(_ROOT).as_posix(), keyword)
        for path in sources
        for call in _CALL.finditer(path.read_text(encoding="utf-8"))
        for keyword in re.findall(r"\b([a-z_]+)=", call.group(1))
        if keyword not in known
    ]
    assert refused == []
