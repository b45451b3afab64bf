"""The exceptions a person sees: one sentence each, what happened and what to do next.

Messages never carry a token, code, verifier or refresh token; callers build them from
provider error codes and descriptions only.

The hierarchy is deliberate. Everything derives from :class:`AuthenticationError`. A failure
of the provider or of the network on the way to it (:class:`TokenEndpointError`) is also a
``requests.RequestException``, so code that already handles an unreachable API with
``except requests.RequestException`` handles an unreachable token endpoint the same way. What
retrying cannot fix is not: a setting (:class:`ConfigurationError`), a sign-in that did not
happen (:class:`LoginError`), the credential store (:class:`TokenStoreError`).

``requests`` is imported only when such an error is made, never with this module: an httpx or
httpx2 user's import, auth object and warm request load no ``requests`` (their adapters raise
their library's own error instead, :class:`~.httpx_flow.ProviderErrorBase`).
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

_E = TypeVar("_E")


class AuthenticationError(Exception):
    """Base class: HTTPie prints it as one ``http: error:`` line."""


class ConfigurationError(AuthenticationError):
    """A setting is missing or invalid."""


class LoginError(AuthenticationError):
    """The browser login did not complete (denied, timed out, impossible here).

    ``error``: the RFC 6749 §4.1.2.1 code when the browser brought back an error response;
    ``unanswered``: no response came back within the login timeout (the authorization page may
    have shown an error of its own, as it does for a client it does not know).
    """

    def __init__(self, message: str, *, error: str | None = None, unanswered: bool = False) -> None:
        super().__init__(message)
        self.error = error
        self.unanswered = unanswered


class TokenStoreError(AuthenticationError):
    """The credential store is missing, locked, hanging or refused the write."""


class _WithRequests(type):
    """The metaclass of :class:`TokenEndpointError`: ``TokenEndpointError(...)`` makes a
    :func:`requests_flavour` instance, importing ``requests`` then and not before. A subclass
    (an httpx face's ``ProviderError``) is made as it is."""

    def __call__(cls: type[_E], *args: Any, **kwargs: Any) -> _E:
        made = requests_flavour() if cls is TokenEndpointError else cls
        return type.__call__(made, *args, **kwargs)  # type: ignore[no-any-return]


class TokenEndpointError(AuthenticationError, OSError, metaclass=_WithRequests):
    """The token, revocation or discovery endpoint refused us or could not be reached.

    Every one made as ``TokenEndpointError(...)`` is also a ``requests.RequestException`` (and
    so an ``OSError``), like any other failed request: it is an instance of
    :func:`requests_flavour`, a subclass that also derives from ``requests.RequestException``,
    made when the first one is (so importing this module imports no ``requests``). The httpx
    and httpx2 classes raise their own subclass instead, an ``httpx.HTTPError`` (or
    ``httpx2.HTTPError``) and no ``requests`` exception.

    ``error`` is the RFC 6749 code and ``error_type`` Stytch's (both are kept). ``refused``
    marks a definitive answer from the endpoint (any 4xx but 408 and 429, or an error body on a
    200), whatever its code or body: on a refresh that means a new login, where an outage
    (``retryable``) means keep the credentials and try later.
    """

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        error_type: str | None = None,
        status: int | None = None,
        retryable: bool = False,
        refused: bool = False,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.error_type = error_type
        self.status = status
        self.retryable = retryable
        self.refused = refused

    @property
    def grant_refused(self) -> bool:
        """True when the grant cannot be used again: the endpoint refused it definitively
        (RFC 6749 §5.2 ``invalid_grant`` or any other refusal, see ``refused``). Not for
        ``invalid_client``: the client itself is unknown, so a sign-in with it cannot help
        (zero configuration registers the client again instead)."""
        if self.error == "invalid_client":
            return False
        return self.refused or self.error == "invalid_grant"


_FLAVOUR: list[type[TokenEndpointError]] = []
_FLAVOUR_LOCK = threading.Lock()


def requests_flavour() -> type[TokenEndpointError]:
    """The :class:`TokenEndpointError` that is also a ``requests.RequestException``: what
    ``TokenEndpointError(...)`` makes. Built once, on first use (it imports ``requests``)."""
    with _FLAVOUR_LOCK:
        if not _FLAVOUR:
            from requests import RequestException

            class RequestsTokenEndpointError(TokenEndpointError, RequestException):
                """A :class:`TokenEndpointError` that is a ``requests.RequestException``."""

                def __reduce__(self) -> tuple[Any, ...]:
                    # Rebuilt through the base (this class is made at run time, and pickle
                    # would find the base by its name): a copy, or one a worker process sent
                    # back, is the same.
                    return (_rebuilt, (self.args, dict(self.__dict__)))

            # Named as the class it stands for: HTTPie's ``http: error:`` line shows the type's
            # name, a traceback its qualified name, and both read as they always have.
            RequestsTokenEndpointError.__name__ = TokenEndpointError.__name__
            RequestsTokenEndpointError.__qualname__ = TokenEndpointError.__qualname__
            _FLAVOUR.append(RequestsTokenEndpointError)
        return _FLAVOUR[0]


def _rebuilt(args: tuple[Any, ...], state: dict[str, Any]) -> TokenEndpointError:
    error = TokenEndpointError(*args)
    error.__dict__.update(state)
    return error
