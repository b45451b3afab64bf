"""The exceptions a person sees: one sentence each, what happened and what to do next.

Messages never carry a token, code, verifier or refresh token; callers build them from
provider error codes and descriptions only.

The hierarchy is deliberate. Everything derives from :class:`AuthenticationError`. A failure
of the provider or of the network on the way to it (:class:`TokenEndpointError`) is an
``OSError``, and each adapter raises it as its HTTP library's own request error
(:class:`..auth.ProviderError` a ``requests.RequestException``,
:class:`..httpx_flow.ProviderErrorBase` an ``httpx.HTTPError``), so code that already handles
an unreachable API handles an unreachable token endpoint the same way, and no adapter needs
another's library. What retrying cannot fix is not: a setting (:class:`ConfigurationError`), a
sign-in that did not happen (:class:`LoginError`), the credential store
(:class:`TokenStoreError`).
"""

from __future__ import annotations

from typing import TypeVar

_Like = TypeVar("_Like", bound="TokenEndpointError")


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


class TokenEndpointError(AuthenticationError, OSError):
    """The token, revocation or discovery endpoint refused us or could not be reached.

    An ``OSError``, like any other failed request; the adapters raise it as their library's
    request error (:meth:`like`).

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

    @classmethod
    def like(cls: type[_Like], error: TokenEndpointError) -> _Like:
        """``error`` as this class (an adapter's, which is also its library's request error):
        made of its words and fields only, so nothing ``error`` reaches (its context, its
        traceback's frames, a request body) hangs off the new one."""
        return cls(
            str(error),
            error=error.error,
            error_type=error.error_type,
            status=error.status,
            retryable=error.retryable,
            refused=error.refused,
        )


class TokenEndpointGone(TokenEndpointError):
    """A token request at ``url`` was answered ``status`` as if no token endpoint were there
    (gone, not one, or moved: :data:`..oauth.token_client.NOT_HERE`). Nothing was done there,
    no grant used up, so the endpoint may have moved: not a refused grant. What follows is a
    fresh look at the server's metadata where the endpoint comes from it, or an error naming
    the setting it comes from; never a sign-in at the same dead URL. Keyword arguments with
    defaults, so that a copy (``copy.copy``, which calls the class with the message only)
    works."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.url = url


def library_missing(module: str, library: str) -> ModuleNotFoundError:
    """Raised on importing our ``module`` for an HTTP library the install does not have.

    The plain install is the ``requests`` API alone, so importing the httpx or httpx2 classes
    there is a step the person skipped, not a fault: "No module named 'anyio'" from inside the
    package would name neither the library nor the command that adds it."""
    return ModuleNotFoundError(
        f"{module} needs {library}, which is not installed: pip install {library} (or install "
        f"this package with its [{library}] extra).",
        name=library,
    )
