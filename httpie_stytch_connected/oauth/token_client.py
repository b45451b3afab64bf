"""The token endpoint client: RFC 6749 §4.1.3 code exchange, §6 refresh, RFC 7009 revocation.

Requests are form-encoded. Error bodies are read in both shapes Stytch may send — RFC 6749's
``{error, error_description}`` and Stytch's ``{status_code, error_type, error_message}`` — also
when they come with a 200, and turned into one :class:`TokenEndpointError` whose message never
echoes what we sent. A 5xx, 408 or 429 is an outage (a refresh retries it); any other 4xx, or an
error body on a 200, is a refusal, whatever its code or body (HTML, empty).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import TokenEndpointError, TokenEndpointGone
from .provider_calls import (
    HTTP,
    REVOCATION,
    TOKEN,
    ProviderAnswer,
    RequestsHTTP,
    call,
    limits_for,
    provider_http,
)
from .tokens import TokenResponseError, TokenSet
from .untrusted import WITHHELD, form_object, json_object, shown_text
from .urls import shown_url

if TYPE_CHECKING:
    import requests

    from .client_auth import ClientAuth

log = logging.getLogger(__name__)

#: Pauses before the retries of a refresh that failed on the network or with a 5xx.
REFRESH_BACKOFF = (0.5, 1.5)

#: What a token endpoint answers where it no longer is: gone (404, 410), not a token endpoint
#: (405 to a POST), or moved elsewhere (a redirect, which provider calls never follow).
NOT_HERE = frozenset({301, 302, 303, 307, 308, 404, 405, 410})

#: Where a token endpoint found gone is looked for again (:class:`TokenClient`'s
#: ``relocate``): the one to use now, or it raises (a :class:`TokenEndpointGone` naming what
#: to fix).
Relocate = Callable[[TokenEndpointGone], str]


def endpoint_gone(url: str, status: int) -> TokenEndpointGone:
    """The error for a token request at ``url`` answered ``status`` (one of :data:`NOT_HERE`)."""
    return TokenEndpointGone(
        f"The token endpoint {shown_url(url)} answered HTTP {status}, as if it were not there; "
        "tell the server's owner, or try again later.",
        url=url,
        status=status,
    )


def still_gone(gone: TokenEndpointGone, issuer: str) -> TokenEndpointGone:
    """The one error for ``gone`` once ``issuer``'s metadata, read again, names no other token
    endpoint: neither a refresh nor a sign-in can finish, so none is tried."""
    return TokenEndpointGone(
        f"The token endpoint {shown_url(gone.url)} of {shown_url(issuer)} answered HTTP "
        f"{gone.status} "
        "(it is not there), and the server's metadata, read again just now, names no other, so "
        "neither a refresh nor a sign-in can finish; tell the server's owner, or try again "
        "later.",
        url=gone.url,
        status=gone.status,
    )


def moved_notice(issuer: str, old: str, new: str) -> str:
    """What is said once a token endpoint found gone is found again in fresh metadata."""
    return (
        f"The token endpoint of {shown_url(issuer)} moved from {shown_url(old)} to "
        f"{shown_url(new)}, as its metadata now says; using the new one."
    )


class TokenClient:
    def __init__(
        self,
        token_endpoint: str,
        client_id: str,
        *,
        revocation_endpoint: str | None = None,
        session: HTTP = None,
        timeout: tuple[float, float] | None = None,
        refresh_backoff: tuple[float, ...] = REFRESH_BACKOFF,
        resource: str | None = None,
        client_auth: ClientAuth | None = None,
        issuer: str | None = None,
        relocate: Relocate | None = None,
    ) -> None:
        """``client_auth`` (:mod:`.client_auth`) adds the client's credentials to every
        token, refresh and revocation request (default: a public client's ``client_id``);
        ``issuer``, the server's issuer identifier where known, is a client assertion's
        audience (:attr:`assertion_audience`).
        A token request answered as if the endpoint were not there (:data:`NOT_HERE`) raises
        :class:`TokenEndpointGone`; with ``relocate``, it is first sent once more to the
        endpoint ``relocate`` names (which then stays this client's): nothing was used up at
        the dead one, a code included.
        ``resource`` (RFC 8707 §2.2) goes on every code exchange and refresh: a refresh must
        repeat the resource of the token set it refreshes, or a server with resource
        indicators refuses it and may burn the refresh token.

        ``timeout`` (connect, read) replaces the token and revocation calls' timeouts of
        :data:`.provider_calls.LIMITS`, and their deadline becomes its sum."""
        self.resource = resource
        self.token_endpoint = token_endpoint
        self.revocation_endpoint = revocation_endpoint
        self.client_id = client_id
        self.http = provider_http(session)
        self.limits = limits_for(TOKEN, timeout)
        self.revocation_limits = limits_for(REVOCATION, timeout)
        self.timeout = (self.limits.connect, self.limits.read)
        self.refresh_backoff = refresh_backoff
        self.client_auth = client_auth
        self.issuer = issuer
        self.relocate = relocate

    @property
    def assertion_audience(self) -> str:
        """The ``aud`` of a client assertion (RFC 7523 §3 as draft-ietf-oauth-rfc7523bis
        updates it): the issuer identifier; the token endpoint only when no issuer is known."""
        return self.issuer or self.token_endpoint

    @property
    def session(self) -> requests.Session:
        """The ``requests.Session`` the calls go through (the other provider calls of a
        manager share it)."""
        if not isinstance(self.http, RequestsHTTP):
            raise TypeError("this client's provider calls do not go through requests")
        return self.http.session

    def __repr__(self) -> str:
        return f"TokenClient(token_endpoint={self.token_endpoint!r}, client_id={self.client_id!r})"

    def exchange_code(self, code: str, verifier: str, redirect_uri: str) -> TokenSet:
        """Trade the code; ``redirect_uri`` must be the exact one sent, port included."""
        form = {
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
            **self._resource(),
        }
        return self._post_token(form, "exchange the authorization code")

    def client_credentials(self, scopes: tuple[str, ...] = ()) -> TokenSet:
        """RFC 6749 §4.4: a token for the client itself (no scopes: the client's own)."""
        form = {"grant_type": "client_credentials", "client_id": self.client_id}
        if scopes:
            form["scope"] = " ".join(scopes)
        return self._post_token({**form, **self._resource()}, "get a machine access token")

    def _authenticated(self, form: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """The form and headers with the client's authentication (:mod:`.client_auth`)."""
        data: dict[str, str] = dict(form)
        headers: dict[str, str] = {}
        if self.client_auth is not None:
            self.client_auth.apply(data, headers, self.assertion_audience)
        return data, headers

    def _hidden(self) -> dict[str, str]:
        return self.client_auth.hidden() if self.client_auth is not None else {}

    def refresh(self, current: TokenSet) -> TokenSet:
        """Refresh with bounded retries on outages; a refused grant is never retried."""
        if not current.refresh_token:
            raise TokenEndpointError("There is no refresh token to use.", error="invalid_grant")
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "refresh_token": current.refresh_token,
            **self._resource(),
        }
        for pause in (*self.refresh_backoff, None):
            try:
                return self._post_token(form, "refresh the access token", previous=current)
            except TokenEndpointError as exc:
                if not exc.retryable or pause is None:
                    raise
                log.debug("refresh failed (%s); retrying in %.1f s", exc.error or exc.status, pause)
                time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    def _resource(self) -> dict[str, str]:
        return {"resource": self.resource} if self.resource else {}

    def revoke(self, token: str, token_type_hint: str = "refresh_token") -> None:
        """RFC 7009: the server answers 200 even for unknown tokens."""
        if not self.revocation_endpoint:
            raise TokenEndpointError("The provider has no revocation endpoint.")
        form = {"token": token, "token_type_hint": token_type_hint, "client_id": self.client_id}
        data, headers = self._authenticated(form)
        response = call(
            self.http,
            "POST",
            self.revocation_endpoint,
            "revoke the token",
            kind=REVOCATION,
            form=data,
            headers=headers,
            limits=self.revocation_limits,
        )
        if response.status != 200:
            raise provider_error(response, "revoke the token", {**data, **self._hidden()})

    def probe(self) -> None:
        """Whether a token endpoint found gone before is there now: a token request with no
        grant in it (``grant_type=authorization_code`` without a code, no client
        authentication), which a token endpoint refuses (RFC 6749 §5.2 ``invalid_request``)
        and which uses nothing up. Raises :class:`TokenEndpointGone` (after ``relocate``'s
        look, where there is one) while it is still not there; any other answer will do."""
        form = {"grant_type": "authorization_code", "client_id": self.client_id}
        self._send(form, "check the token endpoint", authenticate=False)

    def _send(
        self, form: Mapping[str, str], action: str, *, authenticate: bool = True
    ) -> tuple[ProviderAnswer, dict[str, str]]:
        """POST ``form`` to the token endpoint (authenticated as the client, unless not
        ``authenticate``): the answer and the fields sent. Where the endpoint answers as if it
        were not there, once more at the one ``relocate`` names, else
        :class:`TokenEndpointGone`."""
        for relocated in (False, True):
            data, headers = self._authenticated(form) if authenticate else (dict(form), {})
            response = call(
                self.http,
                "POST",
                self.token_endpoint,
                action,
                kind=TOKEN,
                form=data,
                headers=headers,
                limits=self.limits,
            )
            if response.status not in NOT_HERE:
                return response, data
            gone = endpoint_gone(self.token_endpoint, response.status)
            if self.relocate is None or relocated:
                raise gone
            self.token_endpoint = self.relocate(gone)
        raise AssertionError("unreachable")  # pragma: no cover

    def _post_token(
        self, form: Mapping[str, str], action: str, previous: TokenSet | None = None
    ) -> TokenSet:
        response, data = self._send(form, action)
        body = _answer(response)
        if response.status != 200 or _is_error(body):
            raise provider_error(response, action, {**data, **self._hidden()}, body)
        if body is None:
            raise TokenEndpointError(
                f"Could not {action}: the token endpoint answered 200 with a body that is "
                "neither JSON nor a form; check the configured token endpoint URL.",
                status=200,
            )
        try:
            return TokenSet.from_response(body, previous=previous)
        except TokenResponseError as exc:
            raise TokenEndpointError(f"Could not {action}: {exc}.", status=200) from None


def _answer(response: ProviderAnswer) -> dict[str, Any] | None:
    """The token endpoint's answer as a mapping: JSON (RFC 6749 §5.1), or form-encoded where the
    server says so (GitHub's classic endpoint answers that way unless asked for JSON)."""
    kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return form_object(response.body)
    return json_object(response.body)


def _is_error(body: Mapping[str, Any] | None) -> bool:
    """An error document (either shape) where a token response should be: some servers answer
    200 to everything."""
    if body is None or "access_token" in body:
        return False
    return "error" in body or "error_type" in body


#: Form fields that are not secret; every other value we sent is scrubbed from provider text.
_PUBLIC_FIELDS = frozenset(
    {
        "grant_type",
        "client_id",
        "redirect_uri",
        "token_type_hint",
        "resource",
        "scope",
        "client_assertion_type",
    }
)
#: 4xx answers that mean "not now" rather than "no" (RFC 9110 §15.5.9, RFC 6585 §4).
_TRANSIENT = frozenset({408, 429})


def provider_error(
    response: ProviderAnswer,
    action: str,
    sent: Mapping[str, str],
    body: Mapping[str, Any] | None = None,
) -> TokenEndpointError:
    """One readable error from a refusal or failure, in either error shape or none (HTML, empty).

    Provider text is shown only through :func:`.untrusted.shown_text`, which withholds it when
    it repeats any fragment of a secret we sent (code, verifier, refresh token). ``body`` is
    the response's JSON object when the caller has parsed it already.
    """
    body = body or _answer(response) or {}
    secrets = [v for k, v in sent.items() if k not in _PUBLIC_FIELDS and v]
    error = shown_text(body.get("error"), secrets, limit=80)
    error_type = shown_text(body.get("error_type"), secrets, limit=80)
    detail = shown_text(body.get("error_description"), secrets) or shown_text(
        body.get("error_message"), secrets
    )
    status = response.status
    code = " / ".join(c for c in (error, error_type) if c) or f"HTTP {status}"
    retryable = status >= 500 or status in _TRANSIENT
    if retryable:
        hint = "the provider is having trouble; try again later"
    elif not body:
        hint = "the answer was not an OAuth error; check the configured endpoint URL"
    else:
        hint = detail or "see the provider's documentation for this error"
    return TokenEndpointError(
        f"Could not {action}: {code}: {hint}.".replace("..", "."),
        error=None if error == WITHHELD else error,
        error_type=None if error_type == WITHHELD else error_type,
        status=status,
        retryable=retryable,
        refused=not retryable and (status == 200 or 400 <= status < 500),
    )
