"""The access-token cache: a 0600 file per token set holding the access token and its expiry,
never the refresh token. A warm run reads it and stops there: no keyring, no lock.

Reads load only :mod:`.paths` and the token model (:meth:`AccessTokenCache.access_token`, the
warm path's read, not even that: only the stored form, :mod:`..oauth.token_json`); the writers'
helpers are in :mod:`.paths` too, and the keyring store (:mod:`.store`) is never imported here.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import TokenStoreError
from ..oauth.token_json import usable_access_token
from .paths import _unlink, cache_dir, drop_temp_files, read_text, write_private

if TYPE_CHECKING:
    from ..oauth.tokens import TokenSet


class AccessTokenCache:
    """The warm path: the access token and its expiry only, never the refresh token."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or cache_dir() / "access"

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self, key: str) -> TokenSet | None:
        tokens = parse_token_set(read_text(self._path(key)))
        return tokens if tokens and tokens.access_token else None

    def access_token(self, key: str, leeway: float) -> str | None:
        """The cached access token if it is good beyond ``leeway`` seconds, read without the
        token model (:func:`.token_json.usable_access_token`): what :meth:`load` would give a
        manager that finds it usable. Raises :class:`TokenStoreError` as :meth:`load` does."""
        return usable_access_token(read_text(self._path(key)), leeway)

    def save(self, key: str, tokens: TokenSet) -> None:
        from ..oauth.tokens import TokenSet

        slim = TokenSet(
            access_token=tokens.access_token,
            expires_at=tokens.expires_at,
            scope=tokens.scope,
            received_at=tokens.received_at,
        )
        drop_temp_files(self._path(key))  # an earlier run killed mid-write left its token there
        # A cache that cannot be written is only slower.
        with contextlib.suppress(OSError, TokenStoreError):
            write_private(self._path(key), slim.to_json())

    def delete(self, key: str) -> None:
        drop_temp_files(self._path(key))
        _unlink(self._path(key))

    def lock_file(self, key: str) -> Path:
        """Beside the token file: whoever can write that file finds the same lock."""
        return self.directory / f"{key}.lock"


def parse_token_set(text: str | None) -> TokenSet | None:
    """A token set from a file's text; None for no text, or text that is not one (corrupt or
    foreign entries are replaced by a fresh login, never a crash)."""
    if text is None:
        return None
    from ..oauth.tokens import TokenSet

    try:
        return TokenSet.from_json(text)
    except (ValueError, TypeError, RecursionError, OverflowError):
        return None
