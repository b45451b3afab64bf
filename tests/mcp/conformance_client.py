"""The MCP client under test for the conformance suite (tests/mcp/conformance.py runs it).

The suite starts a mock MCP server (and authorization server) per scenario and runs
``python -m tests.mcp.conformance_client <server URL>`` with ``MCP_CONFORMANCE_SCENARIO`` (and for
some scenarios ``MCP_CONFORMANCE_CONTEXT``, JSON: pre-registered client credentials, keys) in the
environment. The client does what an application would: connect over streamable HTTP through an
``httpx2.AsyncClient(auth=…)``, initialize, list the tools and call each of them. Exit status 0
means it got through.

The ``auth=`` comes from a factory named by ``MCP_CONFORMANCE_AUTH`` (see :data:`FACTORIES`):

- ``mcp-sdk`` (default): the SDK's own ``OAuthClientProvider`` (and its client-credentials
  extensions when the scenario hands out credentials), with an in-process loopback callback and
  a scripted user agent that follows the authorization redirect to it;
- ``httpie-stytch-connected``: our ``OAuth2PKCEAuth`` for httpx2, with nothing configured; the
  runner sets ``BROWSER`` to the scripted user agent and a fresh home and keyring;
- ``none``: no auth (the auth scenarios must then fail);
- ``module:function``: any other factory with the :data:`AuthFactory` signature.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.to_thread
import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from mcp.types import ElicitRequestParams, ElicitResult, ErrorData

from httpie_stytch_connected.httpx2 import OAuth2PKCEAuth
from httpie_stytch_connected.oauth.resource_metadata import discover_resource
from httpie_stytch_connected.testing.loopback import LoopbackServer, QuietHandler

#: Bounds: the whole client run, and the wait for the authorization redirect to come back.
RUN_TIMEOUT = 60.0
CALLBACK_TIMEOUT = 30.0
#: How many redirects the scripted user agent follows before giving up.
MAX_HOPS = 10
#: The client ID metadata document URL the suite's ``auth/basic-cimd`` server expects.
CIMD_URL = "https://conformance-test.local/client-metadata.json"


@dataclass(frozen=True)
class Scenario:
    name: str
    context: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_environment(cls) -> Scenario:
        raw = os.environ.get("MCP_CONFORMANCE_CONTEXT")
        context = json.loads(raw) if raw else {}
        return cls(os.environ.get("MCP_CONFORMANCE_SCENARIO", ""), context)


#: ``factory(server_url, scenario)`` returns the ``auth=`` for the httpx2 client (None: no auth).
AuthFactory = Callable[[str, Scenario], "httpx2.Auth | None"]


# ------------------------------------------------------------------ the SDK's own provider


class MemoryStorage:
    """The SDK's ``TokenStorage`` protocol, in memory (one process, one scenario)."""

    def __init__(self, client_info: OAuthClientInformationFull | None = None) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info = client_info

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class LoopbackCallback:
    """The redirect URI: a one-route server on 127.0.0.1 that keeps the last callback query."""

    def __init__(self) -> None:
        self.query: dict[str, str] | None = None
        self.arrived = threading.Event()
        owner = self

        class Handler(QuietHandler):  # silent: the query holds the code
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/callback":
                    return self.reply(404, content_type=None)
                owner.query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                owner.arrived.set()
                self.reply(200, b"You can close this window.", content_type="text/plain")

        self._server = LoopbackServer(Handler)  # lives as long as this client process

    @property
    def redirect_uri(self) -> str:
        return f"{self._server.url}/callback"

    async def follow(self, authorization_url: str) -> None:
        """The scripted user agent: GET the authorization URL and follow its redirects (the
        mock authorization servers approve at once) until the loopback callback answers."""
        self.arrived.clear()
        self.query = None
        async with httpx2.AsyncClient(follow_redirects=True, max_redirects=MAX_HOPS) as agent:
            await agent.get(authorization_url, timeout=CALLBACK_TIMEOUT)

    async def wait(self) -> AuthorizationCodeResult:
        arrived = await anyio.to_thread.run_sync(self.arrived.wait, CALLBACK_TIMEOUT)
        if not arrived or self.query is None:
            raise RuntimeError("the authorization redirect never reached the loopback callback")
        if "code" not in self.query:
            raise RuntimeError(f"authorization refused: {self.query.get('error', 'no code')}")
        return AuthorizationCodeResult(
            code=self.query["code"], state=self.query.get("state"), iss=self.query.get("iss")
        )


def mcp_sdk_auth(server_url: str, scenario: Scenario) -> httpx2.Auth:
    from mcp.client.auth import OAuthClientProvider

    context = scenario.context
    if "private_key_pem" in context:  # client credentials with private_key_jwt
        from mcp.client.auth.extensions.client_credentials import (
            PrivateKeyJWTOAuthProvider,
            SignedJWTParameters,
        )

        client_id = str(context["client_id"])
        params = SignedJWTParameters(
            issuer=client_id,
            subject=client_id,
            signing_key=str(context["private_key_pem"]),
            signing_algorithm=str(context.get("signing_algorithm", "RS256")),
        )
        return PrivateKeyJWTOAuthProvider(
            server_url,
            MemoryStorage(),
            client_id,
            params.create_assertion_provider(),
        )
    if scenario.name.startswith("auth/client-credentials") and "client_secret" in context:
        from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider

        return ClientCredentialsOAuthProvider(
            server_url, MemoryStorage(), str(context["client_id"]), str(context["client_secret"])
        )

    callback = LoopbackCallback()
    metadata = OAuthClientMetadata(
        client_name="httpie-stytch-connected conformance client",
        redirect_uris=[callback.redirect_uri],  # type: ignore[list-item]
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
    )
    preregistered = None
    if "client_id" in context:  # pre-registration: credentials handed out by the scenario
        secret = context.get("client_secret")
        preregistered = OAuthClientInformationFull(
            client_id=str(context["client_id"]),
            client_secret=secret,
            # A confidential client is configured with how it authenticates; RFC 7591's
            # default for one with a secret is client_secret_basic.
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            redirect_uris=[callback.redirect_uri],  # type: ignore[list-item]
        )
    return OAuthClientProvider(
        server_url,
        metadata,
        MemoryStorage(preregistered),
        redirect_handler=callback.follow,
        callback_handler=callback.wait,
    )


# ------------------------------------------------------------------ ours (plugged in later)


def httpie_stytch_connected_auth(server_url: str, scenario: Scenario) -> httpx2.Auth:
    """Our auth as a new user runs it: nothing configured but what the 401 says. The runner
    gives it a fresh home and keyring and ``BROWSER`` = the scripted user agent.

    A scenario that hands out credentials (a pre-registered client, a machine client) gets them
    as a user would set them: ``client_id``, ``client_secret``, a ``private_key_file`` of their
    own; a person signs in unless the scenario is about client credentials."""
    context = scenario.context
    # Without a terminal to ask on, the person says yes to signing in for this server by
    # naming it in ``hosts`` (issue 17 §2), as a script would.
    settings: dict[str, Any] = {"hosts": urlsplit(server_url).netloc}
    if "client_id" in context:
        # A pinned client ID goes only to the server it belongs to (issue 17 §1): the person
        # names that server too, as `stytch-connected discover URL` prints it.
        settings["client_id"] = str(context["client_id"])
        settings["issuer"] = discover_resource(server_url, None, None).authorization_server
    if "client_secret" in context:
        settings["client_secret"] = str(context["client_secret"])
    if "private_key_pem" in context:
        key = Path.home() / "client-key.pem"  # the runner's fresh home, this scenario's own
        key.write_text(str(context["private_key_pem"]), encoding="utf-8")
        key.chmod(0o600)
        settings["private_key_file"] = str(key)
    if "client_id" in settings and not scenario.name.startswith("auth/client-credentials"):
        settings["grant_type"] = "authorization_code"
    if scenario.name == "auth/basic-cimd":
        # A team shipping a CLI hosts its client ID metadata document and builds its URL in
        # (``client_metadata_url``, docs/guides/configuration.md); this is the URL the
        # scenario's server expects (it never fetches it). Nothing for the person to set.
        settings["client_metadata_url"] = CIMD_URL
    return OAuth2PKCEAuth(**settings)


def no_auth(server_url: str, scenario: Scenario) -> None:
    """No auth at all: every auth scenario must fail (proves the harness notices)."""
    del server_url, scenario


FACTORIES: dict[str, AuthFactory] = {
    "none": no_auth,
    "mcp-sdk": mcp_sdk_auth,
    "httpie-stytch-connected": httpie_stytch_connected_auth,
}


def auth_factory(name: str) -> AuthFactory:
    if name in FACTORIES:
        return FACTORIES[name]
    module_name, sep, attribute = name.partition(":")
    if not sep:
        raise SystemExit(f"unknown auth factory {name!r}: one of {sorted(FACTORIES)} or mod:func")
    factory: AuthFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


# ------------------------------------------------------------------ the client itself


def arguments_for(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Plausible arguments for a tool's input schema (numbers, strings, booleans)."""
    values: dict[str, Any] = {}
    properties = schema.get("properties") or {}
    for index, (name, spec) in enumerate(properties.items(), start=1):
        kind = spec.get("type") if isinstance(spec, dict) else None
        if isinstance(spec, dict) and "default" in spec:
            values[name] = spec["default"]
        elif kind in ("number", "integer"):
            values[name] = index
        elif kind == "boolean":
            values[name] = True
        elif kind == "string":
            values[name] = f"value-{index}"
    return values


async def accept_with_defaults(
    context: Any, params: ElicitRequestParams
) -> ElicitResult | ErrorData:
    """Elicitation: accept, filling every field from its schema default (SEP-1034)."""
    schema = getattr(params, "requested_schema", None) or {}
    return ElicitResult(action="accept", content=arguments_for(schema))


async def run(server_url: str, auth: httpx2.Auth | None) -> list[str]:
    """Initialize, list the tools, call each; returns what happened, one line per step."""
    steps: list[str] = []
    timeout = httpx2.Timeout(30.0, read=60.0)
    async with (
        httpx2.AsyncClient(auth=auth, timeout=timeout) as http,
        streamable_http_client(server_url, http_client=http) as (read, write),
        ClientSession(read, write, elicitation_callback=accept_with_defaults) as session,
    ):
        init = await session.initialize()
        steps.append(f"initialized: {init.server_info.name}")
        tools = await session.list_tools()
        steps.append(f"tools: {[t.name for t in tools.tools]}")
        for tool in tools.tools:
            result = await session.call_tool(tool.name, arguments_for(tool.input_schema))
            steps.append(f"called {tool.name}: {'error' if result.is_error else 'ok'}")
    return steps


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m tests.mcp.conformance_client SERVER_URL", file=sys.stderr)
        return 2
    server_url = args[-1]
    scenario = Scenario.from_environment()
    factory = auth_factory(os.environ.get("MCP_CONFORMANCE_AUTH", "mcp-sdk"))

    async def bounded() -> list[str]:
        with anyio.fail_after(RUN_TIMEOUT):
            return await run(server_url, factory(server_url, scenario))

    try:
        steps = anyio.run(bounded)
    except BaseException as exc:  # an exception group from the SDK's task groups, too
        if isinstance(exc, KeyboardInterrupt):
            raise
        print(f"client failed: {_describe(exc)}", file=sys.stderr)
        return 1
    for step in steps:
        print(step)
    return 0


def _describe(exc: BaseException) -> str:
    """Exception types and messages, flattened (exception groups); never a traceback's locals."""
    inner: tuple[BaseException, ...] | None = getattr(exc, "exceptions", None)
    if inner:
        return "; ".join(_describe(e) for e in inner)
    return f"{type(exc).__name__}: {exc}"


if __name__ == "__main__":
    raise SystemExit(main())
