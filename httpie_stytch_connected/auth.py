"""The ``requests`` auth classes: attach ``Authorization: Bearer``, retry once after a 401.

``OAuth2PKCEAuth`` is provider-neutral; ``StytchAuth`` is the same with Stytch's argument names.
Construction only resolves settings (:mod:`.managed`); the first request does the I/O. The 401
retry follows ``requests.auth.HTTPDigestAuth.handle_401``: a response hook that resends once, and
only when our own Authorization header was on that very request (hooks travel with redirects to
other hosts, where requests strips the header) and the body can be replayed.

Zero configuration (one token per protected resource): requests, and HTTPie's ``--follow``,
build each redirect hop as a copy of the request that got the redirect, keeping the header on
the same origin, and run the response hooks (the same hook object, through every hop) on each
answer. So the hook, on a redirect, judges the URL the next hop will go to with the one redirect
rule (:func:`.bearer.withhold`) and takes our header off the request that hop copies; and only
an answer from inside the resource to a request that carried the token renews it, steps it up
(once per request the caller made) or is resent (:meth:`.ZeroConfig.after_bearer`).
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar
from requests.utils import requote_uri

from .errors import TokenEndpointError
from .managed import NOT_RESENT, ManagedTokens, StytchTokens
from .oauth.bearer import authorization, rejected, withhold
from .settings.options import lists_settings

if TYPE_CHECKING:
    from .messages import Notify
    from .zero_config.binding import Binding
    from .zero_config.chain import ZeroConfig

__all__ = ["OAuth2PKCEAuth", "ProviderError", "StytchAuth"]

_Step = TypeVar("_Step", bound=Callable[..., Any])


class ProviderError(TokenEndpointError, requests.RequestException):
    """A :class:`~.errors.TokenEndpointError` raised from a request made with these classes
    (or HTTPie): also a ``requests.RequestException``, so ``except requests.RequestException``
    catches an unreachable or refusing provider as it catches an unreachable API. Same words,
    same fields; ``request`` is the request being authenticated, as the httpx classes' error
    holds it (its method, URL and headers, without the Authorization header or the body)."""


def raises_requests_errors(step: _Step) -> _Step:
    """``step`` (an entry point requests calls: the auth call, a response hook), raising a
    provider failure as :class:`ProviderError`, outside the ``except`` block so that nothing
    of the original (its context, a request body) hangs off it."""

    @functools.wraps(step)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return step(*args, **kwargs)
        except TokenEndpointError as exc:
            if isinstance(exc, requests.RequestException):
                raise
            error = ProviderError.like(exc)
            error.request = _shown(args)
        raise error

    return run  # type: ignore[return-value]


def _shown(args: tuple[Any, ...]) -> requests.PreparedRequest | None:
    """The request a step (``args``: its arguments) was authenticating, as the error about it
    holds it: method, URL and headers, but not the Authorization header (the token the API may
    just have refused) or the body (the same rule as the httpx classes' ``_shown``)."""
    for arg in args:
        request = arg.request if isinstance(arg, requests.Response) else arg
        if isinstance(request, requests.PreparedRequest):
            shown = requests.PreparedRequest()
            shown.method, shown.url = request.method, request.url
            shown.prepare_headers(
                {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
            )
            return shown
    return None


@lists_settings
class OAuth2PKCEAuth(ManagedTokens, AuthBase):
    """Bearer tokens from an authorization-code + PKCE login against any OAuth 2.0 provider."""

    @raises_requests_errors
    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if not self.sends_token_to(r.url or ""):
            return r  # not an API this token belongs to: no token, no sign-in
        if self._zero is not None:
            return _zero_config_prepare(self._zero, r)
        token = self.manager.access_token()
        r.headers["Authorization"] = authorization(token)
        r.register_hook("response", self.response_hook(token, None, r))  # type: ignore[no-untyped-call]
        return r

    def response_hook(
        self, token: str, binding: Binding | None, request: requests.PreparedRequest
    ) -> Callable[..., requests.Response]:
        """The response hook for ``request``, about to go out with ``token`` (zero
        configuration: ``binding``'s): the 401 retry, or the resource's redirect rule, renewal
        and step-up. HTTPie's warm path, which put a cached token on the request without this
        object, hands an answer to it when the answer is its business."""
        rewind = rewinder(request)
        if binding is None or self._zero is None:
            return functools.partial(self._retry_401, token, rewind)
        return _ResourceHook(self._zero, binding, token, rewind)

    @raises_requests_errors
    def _retry_401(
        self, sent: str, rewind: Rewind, response: requests.Response, **kwargs: Any
    ) -> requests.Response:
        request = response.request
        header = request.headers.get("Authorization")
        if response.status_code == 403:
            challenge = response.headers.get("WWW-Authenticate")
            self.manager.after_forbidden(request.url or "", header, sent, challenge)
        if not rejected(response.status_code, header, sent):
            return response
        token = self.manager.access_token(rejected=sent)  # the next request gets a good one
        return resend(response, rewind, token, self.manager.notify, **kwargs)


def resend(
    response: requests.Response, rewind: Rewind, token: str, notify: Notify, **kwargs: Any
) -> requests.Response:
    """Send ``response``'s request once more with ``token`` (``kwargs``: the adapter's send
    arguments a response hook receives). A body that cannot be rewound (see :func:`rewinder`)
    is not resent: ``response`` itself comes back, and ``notify`` says so once (the token is
    renewed, so the next request carries it), in configured mode and zero configuration
    alike."""
    request = response.request
    if not rewind(request):
        notify(NOT_RESENT)
        return response
    response.content  # noqa: B018 - drain so the connection can be reused
    response.close()
    retry = request.copy()
    jar = retry._cookies  # type: ignore[attr-defined]
    extract_cookies_to_jar(jar, request, response.raw)  # type: ignore[no-untyped-call]
    retry.prepare_cookies(jar)
    retry.headers["Authorization"] = authorization(token)
    second: requests.Response = response.connection.send(retry, **kwargs)
    second.history.append(response)
    second.request = retry
    return second


@lists_settings
class StytchAuth(StytchTokens, OAuth2PKCEAuth):
    """Stytch Connected Apps for requests: ``StytchAuth(project_domain=, client_id=,
    authorize_url=)``, each falling back to its ``STYTCH_*`` environment variable."""


# -- zero configuration: the decisions are ZeroConfig's; these hooks only carry them out ------
def _zero_config_prepare(zero: ZeroConfig, r: requests.PreparedRequest) -> requests.PreparedRequest:
    """A known API gets its own token; an unknown one goes out bare, and its 401 starts the
    chain (:meth:`.ZeroConfig.after_bare`)."""
    from .zero_config.binding import BindingCache

    rewind = rewinder(r)
    url = r.url or ""
    found = zero.token_for(url)
    if found is None:
        after: Callable[..., requests.Response] = functools.partial(
            _after_bare, zero, BindingCache.origin(url), rewind
        )
    else:
        binding, token = found
        r.headers["Authorization"] = authorization(token)
        after = _ResourceHook(zero, binding, token, rewind)
    r.register_hook("response", after)  # type: ignore[no-untyped-call]
    return r


@raises_requests_errors
def _after_bare(
    zero: ZeroConfig, origin: str, rewind: Rewind, response: requests.Response, **kwargs: Any
) -> requests.Response:
    request = response.request
    token = zero.after_bare(
        origin,
        request.url or "",
        response.status_code,
        "Authorization" in request.headers,
        response.headers.get("WWW-Authenticate"),
    )
    return response if token is None else resend(response, rewind, token, zero.notify, **kwargs)


class _ResourceHook:
    """The response hook of one request the caller made with a resource's token; requests
    copies it (the same object) onto every redirect hop of that request."""

    def __init__(self, zero: ZeroConfig, binding: Binding, token: str, rewind: Rewind) -> None:
        from .zero_config.chain import Call

        self.zero = zero
        self.binding = binding
        self.token = token
        self.rewind = rewind
        self.call = Call()

    def __repr__(self) -> str:  # never the token
        return f"_ResourceHook(resource={self.binding.resource!r})"

    @raises_requests_errors
    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        answer = response if response.is_redirect else self._answer(response, **kwargs)
        request = response.request  # the next hop, if any, is a copy of this request
        if answer.is_redirect and withhold(
            self.binding.resource,
            self.token,
            _next_url(answer),
            request.headers.get("Authorization"),
        ):
            del request.headers["Authorization"]
        return answer

    def _answer(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        renewed = self._after_bearer(response)
        if renewed is None:
            return response
        second = resend(response, self.rewind, renewed, self.zero.notify, **kwargs)
        if second is not response:  # later hops carry the renewed token, judged the same way
            request.headers["Authorization"] = authorization(renewed)
            self.token = renewed
            if second.status_code == 401:  # not cured: the API may have moved (once, bounded)
                return self._moved(request, second, **kwargs)
        return second

    def _after_bearer(self, response: requests.Response, *, resent: bool = False) -> str | None:
        """:meth:`.ZeroConfig.after_bearer` for ``response`` to the request as it was sent."""
        sent = response.request
        return self.zero.after_bearer(
            self.binding,
            self.token,
            sent.url or "",
            response.status_code,
            sent.headers.get("Authorization"),
            response.headers.get("WWW-Authenticate"),
            call=self.call,
            resent=resent,
        )

    def _moved(
        self, original: requests.PreparedRequest, response: requests.Response, **kwargs: Any
    ) -> requests.Response:
        """The resend's 401: sent once more with a token from the server the API names now,
        if it names another (:meth:`.ZeroConfig.after_bearer` with ``resent``)."""
        moved = self._after_bearer(response, resent=True)
        if moved is None:
            return response
        third = resend(response, self.rewind, moved, self.zero.notify, **kwargs)
        if third is not response:
            third.history[:0] = response.history  # every 401 of this request, in order
            original.headers["Authorization"] = authorization(moved)
            self.token = moved
        return third


def _next_url(response: requests.Response) -> str:
    """Where requests (``Session.resolve_redirects``) sends the hop after ``response``."""
    location = response.headers.get("location", "")
    with contextlib.suppress(UnicodeError):
        location = location.encode("latin1").decode("utf8")
    base = response.url or response.request.url or ""
    if location.startswith("//"):
        location = f"{urlsplit(base).scheme}:{location}"
    return urljoin(base, requote_uri(location))


# -- replaying a body --------------------------------------------------------------------------
# Whether a request body can be sent a second time (the resend after a 401), and how.
#
# Bytes can always go again and a seekable file from where it started. A ``requests_toolbelt``
# ``MultipartEncoder`` whose parts are all in memory (no open files) is read into bytes before the
# first send, so the resend is byte-for-byte the same; HTTPie's ``--multipart`` bodies are such
# encoders. HTTPie's ``--chunked`` wrappers (``ChunkedUploadStream``,
# ``ChunkedMultipartUploadStream``) are replayable when what they wrap is in memory. Anything else
# (a generator, a pipe, an encoder over open files) is read once: no resend.

#: Called after the first send: readies ``request.body`` for the resend, False if it cannot be.
Rewind = Callable[[requests.PreparedRequest], bool]

_LIST_ITERATOR: type[Any] = type(iter([]))


def rewinder(request: requests.PreparedRequest) -> Rewind:
    """Look at the body before it is sent, and say how to send it again afterwards.

    A multipart body held in memory is read into bytes here (same length, same boundary), so
    it can go any number of times.
    """
    body: Any = request.body
    if body is None or isinstance(body, (bytes, str)):
        return _in_memory
    if _encoder_in_memory(body):
        request.body = body.to_string()
        return _in_memory
    encoder: Any = getattr(body, "encoder", None)
    if _encoder_in_memory(encoder):  # HTTPie's --chunked --multipart
        data = encoder.to_string()
        return _restart(body, "encoder", lambda: io.BytesIO(data))
    stream = getattr(body, "stream", None)
    if isinstance(stream, _LIST_ITERATOR):  # HTTPie's --chunked over bytes in memory
        chunks = list(stream)
        return _restart(body, "stream", lambda: iter(chunks))
    try:
        position = body.tell()
    except (AttributeError, OSError):
        return _in_memory
    return _seek(body, position)


def _in_memory(request: requests.PreparedRequest) -> bool:
    """Bytes go again as they are; a stream may have been read into bytes since (HTTPie's
    ``--compress`` does that after the auth hook ran)."""
    return request.body is None or isinstance(request.body, (bytes, str))


def _seek(body: Any, position: int) -> Rewind:
    def rewind(request: requests.PreparedRequest) -> bool:
        if not _holds(request, body):
            return _in_memory(request)
        try:
            body.seek(position)
        except (AttributeError, OSError):
            return False
        return True

    return rewind


def _restart(wrapper: Any, name: str, source: Callable[[], Any]) -> Rewind:
    """A wrapper that reads ``wrapper.<name>`` gets a fresh copy now and for each resend."""
    setattr(wrapper, name, source())

    def rewind(request: requests.PreparedRequest) -> bool:
        setattr(wrapper, name, source())
        return _holds(request, wrapper) or _in_memory(request)

    return rewind


def _holds(request: requests.PreparedRequest, body: Any) -> bool:
    """Whether the request still carries ``body`` (the object, not an equal one)."""
    return id(request.body) == id(body)


def _encoder_in_memory(value: Any) -> bool:
    """A ``requests_toolbelt`` ``MultipartEncoder`` none of whose parts is an open file."""
    parts = getattr(value, "parts", None)
    return (
        type(value).__name__ == "MultipartEncoder"
        and isinstance(parts, list)
        and all(isinstance(getattr(part, "body", None), io.BytesIO) for part in parts)
    )
