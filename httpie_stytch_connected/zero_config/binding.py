"""What zero configuration found for one protected resource, and where that is kept.

A :class:`Binding` holds enough to refresh or sign in again without walking the chain, and the
key its tokens are stored under (per authorization server, resource and client: a token
obtained for one resource is never sent to another). Bindings are cached per origin in a 0600
file (:class:`BindingCache`) so that the warm path reads that file and the access-token cache
and nothing else.
"""

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import ConfigurationError, TokenStoreError
from ..oauth.bearer import scope_tokens
from ..oauth.resource_uri import origin_of, within
from ..oauth.urls import check_provider_urls
from ..storage.paths import cache_dir, read_text, token_key, write_private

if TYPE_CHECKING:
    from pathlib import Path

    from ..oauth.endpoints import ProviderEndpoints
    from ..oauth.resource_metadata import ProtectedResource

log = logging.getLogger(__name__)

#: Scopes added to what the API asks for when the authorization server lists them.
_EXTRA_SCOPES = ("openid", "offline_access")
#: 2: registered clients sign in at a redirect path of their own per server (issue 17 §1).
_FORMAT = 2
#: How an older server (MCP authorization 2025-03-26) was found, as ``discover`` says it.
ORIGIN_METADATA = "origin metadata"
DEFAULT_ENDPOINTS = "default endpoints"
FALLBACKS = {
    ORIGIN_METADATA: "the API publishes no resource metadata (RFC 9728), so the authorization "
    "server is the one the metadata at its origin names, on that origin (MCP 2025-03-26)",
    DEFAULT_ENDPOINTS: "the API publishes no resource metadata (RFC 9728) and its origin no "
    "authorization server metadata (RFC 8414), so the default endpoints /authorize, /token and "
    "/register at its origin are used (MCP 2025-03-26)",
}


class Binding(NamedTuple):
    """What discovery found for one protected resource: enough to refresh or sign in again
    without walking the chain, and the key its tokens are stored under.

    One is saved only once the person (or a setting) agreed to sign in at ``issuer`` for
    ``resource`` (:mod:`.consent`): a saved binding is that answer, remembered.

    A named tuple, not a dataclass: a zero-configuration warm run loads this module, and
    building a dataclass of these fields costs that run about 1 ms (bench/README, row 6). For
    the same run the module evaluates its annotations (no ``from __future__ import
    annotations``): ``typing`` compiles each string annotation of a named tuple, 0.1 ms here."""

    resource: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    client_id: str
    client_source: str
    scopes: tuple[str, ...]
    revocation_endpoint: str | None = None
    jwks_uri: str | None = None
    userinfo_endpoint: str | None = None
    registration_endpoint: str | None = None
    iss_parameter_supported: bool = False
    #: Scopes a step-up asked for and the server did not grant: not asked for again.
    declined: tuple[str, ...] = ()
    #: A registered confidential client's method; its secret is in the registration store.
    token_endpoint_auth_method: str = "none"
    #: Said once that the server's token did not name this resource in its ``aud``.
    unbound_said: bool = False
    #: "" when the API published its metadata, else a :data:`FALLBACKS` key.
    fallback: str = ""

    @property
    def key(self) -> str:
        """Per authorization server, resource and client; not per scope, so a step-up replaces
        the token set the API's other requests use."""
        return token_key(f"{self.issuer}\n{self.resource}", self.client_id, ())

    def endpoints(self) -> "ProviderEndpoints":
        from ..oauth.endpoints import ProviderEndpoints  # a refresh or sign-in needs them
        from ..settings.stytch import stytch_iss_alias

        return ProviderEndpoints(
            authorization_endpoint=self.authorization_endpoint,
            token_endpoint=self.token_endpoint,
            revocation_endpoint=self.revocation_endpoint,
            issuer=self.issuer,
            jwks_uri=self.jwks_uri,
            userinfo_endpoint=self.userinfo_endpoint,
            iss_parameter_supported=self.iss_parameter_supported,
            iss_alias=stytch_iss_alias(self.issuer, self.token_endpoint),
        )

    def to_dict(self) -> dict[str, Any]:
        data = self._asdict()
        data["scopes"] = list(self.scopes)
        data["declined"] = list(self.declined)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Binding":
        """ValueError or TypeError when ``data`` is not one (a corrupt cache is rediscovered)."""
        values = dict(data)
        values["scopes"] = tuple(values["scopes"])
        values["declined"] = tuple(scope_tokens(" ".join(values.get("declined") or ())))
        values["unbound_said"] = values.get("unbound_said") is True
        if values.setdefault("fallback", "") not in ("", *FALLBACKS):
            raise ValueError("fallback")
        binding = cls(**values)
        for name in ("resource", "issuer", "authorization_endpoint", "token_endpoint"):
            if not isinstance(getattr(binding, name), str):
                raise ValueError(name)
        # ProviderEndpoints.checked()'s checks without building it: the warm path reads
        # bindings on every run and needs none of the endpoint machinery.
        check_provider_urls(binding)
        return binding


def initial_scopes(
    asked: str | None, resource: "ProtectedResource", server_scopes: object
) -> tuple[str, ...]:
    """The 401's ``scope``, else the resource's ``scopes_supported``; plus ``openid`` and
    ``offline_access`` when the server lists them. Never more up front: step-up adds the rest."""
    wanted = scope_tokens(asked) if asked else scope_tokens(" ".join(resource.scopes_supported))
    listed = server_scopes if isinstance(server_scopes, list) else []
    wanted += [s for s in _EXTRA_SCOPES if s in listed]
    return tuple(dict.fromkeys(wanted))


class BindingCache:
    """Bindings per origin in one 0600 file each: the warm path reads one small file."""

    def __init__(self) -> None:
        self._memory: dict[str, dict[str, Binding]] = {}

    @staticmethod
    def origin(url: str) -> str:
        """The cache file's origin: RFC 3986 §6.2 equivalent spellings share one."""
        return origin_of(url)

    def _path(self, origin: str) -> "Path":
        digest = hashlib.sha256(origin.encode()).hexdigest()[:32]
        return cache_dir() / "resources" / f"{digest}.json"

    def _load(self, origin: str) -> dict[str, Binding]:
        known = self._memory.get(origin)
        if known is None:
            known = self._memory[origin] = _read_bindings(self._path(origin))
        return known

    def lookup(self, url: str) -> Binding | None:
        """The binding whose resource is the longest match for ``url``."""
        matching = [b for b in self._load(self.origin(url)).values() if within(b.resource, url)]
        return max(matching, key=lambda b: len(b.resource), default=None)

    def save(self, binding: Binding) -> None:
        try:
            self._change(binding.resource, binding)
        except (OSError, TokenStoreError) as exc:  # only slower next time: discovery again
            log.debug("resource cache not written (%s)", type(exc).__name__)

    def forget(self, resource: str) -> bool:
        """Drop the binding of ``resource`` (the next request walks the chain again); False
        when none was kept. Raises OSError or TokenStoreError when the file cannot be written."""
        return self._change(resource, None)

    def _change(self, resource: str, binding: Binding | None) -> bool:
        """Put ``binding`` for ``resource`` (None: remove it) into its origin's file, re-read
        first (another process may have changed it); False when there was nothing to remove."""
        origin = self.origin(resource)
        self._memory.pop(origin, None)
        bindings = dict(self._load(origin))
        if binding is not None:
            bindings[resource] = binding
        elif bindings.pop(resource, None) is None:
            return False
        self._memory[origin] = bindings
        text = json.dumps({"v": _FORMAT, "bindings": [b.to_dict() for b in bindings.values()]})
        write_private(self._path(origin), text)
        return True

    def known(self) -> list[Binding]:
        """Every binding on disk (for ``status``)."""
        directory = cache_dir() / "resources"
        paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
        return [binding for path in paths for binding in _read_bindings(path).values()]


def _read_bindings(path: "Path") -> dict[str, Binding]:
    """The bindings in one cache file by resource; a corrupt entry or file is skipped (the
    chain is walked again)."""
    try:
        data = json.loads(read_text(path) or "null")
    except ValueError:
        data = None
    found: dict[str, Binding] = {}
    if isinstance(data, dict) and data.get("v") == _FORMAT:
        for item in data.get("bindings") or []:
            try:
                binding = Binding.from_dict(item)
            except (ValueError, TypeError, KeyError, ConfigurationError):
                continue
            found[binding.resource] = binding
    return found


def fallback_of(resource: "ProtectedResource", *, defaults: bool) -> str:
    """The :data:`FALLBACKS` key for ``resource`` ("" when it published its metadata);
    ``defaults``: its origin published no authorization server metadata either."""
    if not resource.fallback:
        return ""
    return DEFAULT_ENDPOINTS if defaults else ORIGIN_METADATA


def binding_from(
    resource: "ProtectedResource",
    document: Mapping[str, Any],
    *,
    client_id: str,
    client_source: str,
    scopes: tuple[str, ...],
    token_endpoint_auth_method: str = "none",
    defaults: bool = False,
) -> Binding:
    """``resource``'s binding; ``defaults``: ``document`` is the default endpoints'."""
    from ..oauth.discovery import endpoints_from

    endpoints = endpoints_from(document, resource.authorization_server)
    registration = document.get("registration_endpoint")
    return Binding(
        resource=resource.resource,
        issuer=resource.authorization_server,
        authorization_endpoint=endpoints.authorization_endpoint,
        token_endpoint=endpoints.token_endpoint,
        client_id=client_id,
        client_source=client_source,
        scopes=scopes,
        revocation_endpoint=endpoints.revocation_endpoint,
        jwks_uri=endpoints.jwks_uri,
        userinfo_endpoint=endpoints.userinfo_endpoint,
        registration_endpoint=registration if isinstance(registration, str) else None,
        iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
        is True,
        token_endpoint_auth_method=token_endpoint_auth_method,
        fallback=fallback_of(resource, defaults=defaults),
    )
