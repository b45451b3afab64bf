"""The composition root's warm path: a token from the access-token cache before the settings,
the token manager or the keyring load (issue 16 §7).

HTTPie starts a process per request, and each pays for every module it loads; resolving the
settings alone loads more than the rest of a warm run. What a warm run needs of them is small:
the key of the token set (or, with no provider configured, that the key is the API's binding's),
the refresh leeway, and whether plain http may carry the token. So a run that did resolve the
settings records those (a *memo*) under a fingerprint of everything they were resolved from:

- every ``STYTCH_*`` environment variable (a secret setting's as set or not: its value changes
  neither the key nor the token);
- the profile asked for;
- the settings file's path, its mode, and its bytes, read with the settings reader's own checks
  (:func:`.private_files.read_settings_file`), or that there is none;
- :data:`_FORMAT`, the memo's version.

A later run computes the fingerprint and uses only a memo recorded under it; any change to
what the settings come from finds none and takes the full path, which records a new one
(the newest :data:`KEPT` are kept).
A configuration whose warm run does more than read the cache gets no memo: a ``hosts``
restriction, a supplied token, the access-token cache turned off, or a ``STYTCH_*`` variable
that is no setting (said on every run). Any doubt (an unreadable or foreign file, a token
within the leeway of its expiry, a URL plain http may not carry the token to) is a miss, and
the full path decides, with its own errors and messages.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigurationError, TokenStoreError
from .oauth.bearer import refuse_cleartext
from .storage.access_cache import AccessTokenCache
from .storage.paths import cache_dir, config_file, read_text, write_private
from .storage.private_files import read_settings_file

if TYPE_CHECKING:
    from .settings.config import Settings
    from .zero_config.binding import Binding

#: Bump when what a memo holds, or how the settings make a key, changes.
_FORMAT = 1
#: How many memos are kept (the newest): one per configuration a person switches between.
KEPT = 32
#: The secret settings' variables: the fingerprint holds whether each is set, not its value.
SECRET_ENV = ("STYTCH_CLIENT_SECRET", "STYTCH_ACCESS_TOKEN")


class Memo:
    """What a warm run needs of the settings (see the module docstring). Plain classes here:
    this module loads on every warm run, and a named tuple or dataclass is built at import."""

    __slots__ = ("insecure_http", "key", "leeway")

    def __init__(self, key: str | None, leeway: float, insecure_http: bool) -> None:
        #: The token set's key; None with no provider configured (the API's binding has it).
        self.key = key
        #: Seconds before expiry at which a token is refreshed rather than sent (``leeway``).
        self.leeway = leeway
        #: ``allow_insecure_http``: plain http off loopback may carry the token.
        self.insecure_http = insecure_http

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "leeway": self.leeway, "insecure_http": self.insecure_http}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Memo) and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]


class Warm:
    """A token for the URL from the cache, and (zero configuration) the binding it is for."""

    __slots__ = ("binding", "token")

    def __init__(self, token: str, binding: Binding | None) -> None:
        self.token = token
        self.binding = binding

    def __repr__(self) -> str:  # never the token
        resource = self.binding.resource if self.binding is not None else None
        return f"Warm(resource={resource!r})"


def fingerprint(profile: str | None, environ: Mapping[str, str]) -> str | None:
    """The fingerprint of everything the settings are resolved from (module docstring); None
    when the settings file cannot be read as the settings reader would (it says why)."""
    path = config_file(environ)
    try:
        raw = read_settings_file(path, "STYTCH_CONFIG")
        mode = os.stat(path).st_mode if raw is not None else None
    except (OSError, TokenStoreError):
        return None
    env = sorted(
        (name, "(set)" if name in SECRET_ENV and value.strip() else value)
        for name, value in environ.items()
        if name.startswith("STYTCH_")
    )
    head = json.dumps([_FORMAT, profile, str(path), mode, env])
    digest = hashlib.sha256(head.encode("utf-8", "surrogateescape"))
    digest.update(b"\0" + (raw or b""))
    return digest.hexdigest()


def _memo_path(stamp: str) -> Path:
    return cache_dir() / "warm" / f"{stamp[:40]}.json"


def recall(stamp: str) -> Memo | None:
    """The memo recorded under ``stamp``; None when there is none (or it is not one)."""
    try:
        text = read_text(_memo_path(stamp))
        data = json.loads(text or "null")
    except (OSError, TokenStoreError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("v") != _FORMAT or data.get("of") != stamp:
        return None
    key, leeway, insecure = data.get("key"), data.get("leeway"), data.get("insecure_http")
    if not (key is None or isinstance(key, str)) or type(leeway) is not float:
        return None
    return Memo(key, leeway, insecure) if isinstance(insecure, bool) else None


def remember(
    stamp: str,
    profile: str | None,
    environ: Mapping[str, str],
    settings: Settings,
    key: str | None,
) -> None:
    """Record ``settings``' memo under ``stamp``, the fingerprint computed before they were
    resolved; ``key``: the configured manager's (None: zero configuration). Nothing is
    recorded for a configuration the memo cannot serve, nor when the fingerprint changed while
    the settings were resolved. A memo that cannot be written is only a slower next run."""
    from .settings.credentials import has_supplied_token
    from .settings.options import STYTCH_SDK_ENV

    if (
        settings.hosts
        or not settings.access_token_cache
        or has_supplied_token(settings)
        or any(name not in STYTCH_SDK_ENV for name in settings.unknown_env)
    ):
        return
    memo = Memo(key, float(settings.leeway), bool(settings.allow_insecure_http))
    if recall(stamp) == memo or fingerprint(profile, environ) != stamp:
        return
    text = json.dumps({"v": _FORMAT, "of": stamp, **memo.as_dict()})
    path = _memo_path(stamp)
    try:
        write_private(path, text)
    except (OSError, TokenStoreError):
        return
    _prune(path)


def _prune(kept: Path) -> None:
    """Keep ``kept`` and the newest others, :data:`KEPT` in all: every change to what the
    settings come from leaves a memo behind. Best effort (another run may be pruning too)."""
    with contextlib.suppress(OSError):
        others = [p for p in kept.parent.glob("*.json") if p != kept]
        if len(others) < KEPT:
            return
        others.sort(key=lambda p: p.stat().st_mtime_ns)
        for stale in others[: len(others) - KEPT + 1]:
            with contextlib.suppress(OSError):
                stale.unlink()


def cached_token(url: str, stamp: str) -> Warm | None:
    """A token for ``url`` from the access-token cache, still valid beyond the leeway, under
    the memo recorded for ``stamp``; None for anything else (the full path decides)."""
    memo = recall(stamp)
    if memo is None:
        return None
    if not memo.insecure_http:
        try:
            refuse_cleartext(url)
        except (ConfigurationError, ValueError):  # the full path says why
            return None
    binding = None
    key = memo.key
    try:
        if key is None:
            from .zero_config.binding import BindingCache  # zero configuration only

            binding = BindingCache().lookup(url)
            if binding is None:
                return None  # an API not met yet: its 401 starts the chain
            key = binding.key
        token = AccessTokenCache().access_token(key, memo.leeway)
    except (OSError, TokenStoreError, ValueError):  # the full path meets it, and says so
        return None
    return None if token is None else Warm(token, binding)
