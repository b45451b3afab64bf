"""Named profiles in a TOML file in the platform's config directory.

    default_profile = "work"
    [profiles.work]
    project_domain = "https://example.customers.stytch.dev"
    client_id = "connected-app-test-..."
    authorize_url = "https://app.example.com/oauth/authorize"

The file is read only when it exists; the location can be moved with ``STYTCH_CONFIG``. Its
settings decide where the code, the verifier and the refresh token go, so it is read only when
nobody else can have written it (:func:`.private_files.read_settings_file`: a regular file of the
person's, not a symbolic link, writable by them alone, in directories no other user can change);
anything else is a :class:`ConfigurationError` naming the path and ``STYTCH_CONFIG``.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..storage.paths import config_file
from .options import OPTIONS, closest


def load_profile(
    name: str | None, environ: Mapping[str, str]
) -> tuple[str | None, Mapping[str, Any], str]:
    """Return (profile name, its settings, a description of where they came from)."""
    from ..errors import TokenStoreError
    from ..storage.private_files import read_settings_file

    path = config_file(environ)
    try:  # its token_endpoint would receive the code: only the person may have written it
        raw = read_settings_file(path, "STYTCH_CONFIG")
    except TokenStoreError as exc:
        raise ConfigurationError(str(exc)) from None
    if raw is None:
        if name:
            raise ConfigurationError(
                f"Profile {name!r} was asked for but {path} does not exist; create it with a "
                f"{_table(name)} table or set STYTCH_CONFIG."
            ) from None
        return None, {}, ""
    data = _parse_toml(raw, path)
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigurationError(f"In {path}, 'profiles' must be a table of [profiles.NAME].")
    chosen = name or data.get("default_profile") or ("default" if "default" in profiles else None)
    if chosen is None:
        return None, {}, ""
    profile = profiles.get(chosen)
    if not isinstance(profile, dict):
        known = ", ".join(sorted(profiles)) or "none"
        near = closest(str(chosen), [str(p) for p in profiles])
        hint = f"; did you mean {near!r}?" if near else ""
        raise ConfigurationError(
            f"Profile {chosen!r} is not in {path} (profiles there: {known}{hint}); add a "
            f"{_table(str(chosen))} table or pick another with --profile, HTTPie's -a PROFILE "
            "or STYTCH_PROFILE."
        )
    _check_keys(profile, str(chosen), path)
    _check_secrets_private(profile, str(chosen), path)
    return str(chosen), profile, f"profile {chosen!r} in {path}"


def _table(name: str) -> str:
    """The TOML table header for profile ``name``: a bare key where TOML takes one, else a
    quoted one (``-a work:`` asks for 'work:', and ``[profiles.work:]`` is no TOML)."""
    import json
    import re

    if re.fullmatch(r"[A-Za-z0-9_-]+", name):
        return f"[profiles.{name}]"
    return f"[profiles.{json.dumps(name)}]"  # a TOML basic string: JSON's escapes are TOML's


def _check_keys(profile: Mapping[str, Any], name: str, path: Path) -> None:
    """A misspelt key would silently fall back to a default; name it instead."""
    known = [o.name for o in OPTIONS]
    unknown = sorted(set(profile) - set(known))
    if unknown:
        near = closest(unknown[0], known)
        hint = (
            f"did you mean {near!r}?" if near else "`stytch-connected config` lists the known ones."
        )
        raise ConfigurationError(
            f"Unknown setting {unknown[0]!r} in [profiles.{name}] of {path}; {hint}"
        )


def _check_secrets_private(profile: Mapping[str, Any], name: str, path: Path) -> None:
    """A secret in a file that other users can read is already theirs: refuse to use it, as
    ``ssh`` refuses such a key, rather than lend it the look of a working setup."""
    secrets = [o.name for o in OPTIONS if o.secret and o.name in profile]
    if not secrets or not hasattr(os, "getuid"):
        return
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"[profiles.{name}] of {path} holds {secrets[0]} but other users can read that "
            f"file (mode {mode:04o}); run `chmod 600 {path}`, or move the secret out of it "
            "(client_secret_file, access_token_file or the environment)."
        )


def _parse_toml(raw: bytes, path: os.PathLike[str]) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10 only
        import tomli as tomllib
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}.") from None
