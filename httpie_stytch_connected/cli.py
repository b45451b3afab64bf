"""``stytch-connected``: the companion command for the person at the terminal.

``login``, ``logout``, ``status``, ``token``, ``config``, ``discover`` and ``demo``, with the same
settings as the library and the HTTPie plugin (argument > environment > profile > default); with
no provider configured, ``--resource URL`` names the API whose 401 says where to sign in.
Results go to stdout, messages to stderr as one line each; only ``token`` ever prints a token.
Exit codes: 0 success, 1 an :class:`.AuthenticationError`, 2 usage, 130 Ctrl-C; ``exec`` exits
with its command's status, or as a shell does when that cannot start (127 not found, 126 found
but not executable).
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import AuthenticationError, ConfigurationError, LoginError, TokenStoreError
from .messages import clock, debug_logging, expired_ago, human_duration
from .messages import notify_stderr as say
from .oauth.untrusted import unverified_claims, unverified_exp
from .settings.config import Settings, load_settings
from .settings.options import OPTIONS, Option

if TYPE_CHECKING:
    from .lifecycle.manager import TokenManager
    from .managed import ManagedTokens
    from .oauth.tokens import TokenSet
    from .zero_config.chain import ZeroConfig

PROG = "stytch-connected"
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class Context:
    """The resolved settings, and the token manager built only for commands that need one."""

    def __init__(
        self, settings: Settings, environ: Mapping[str, str], resource: str | None = None
    ) -> None:
        self.settings = settings
        self.environ = environ
        self.resource = resource  # the API URL, for zero configuration
        self.args = argparse.Namespace()  # the command's own options (token --json, exec …)

    @cached_property
    def tokens(self) -> ManagedTokens:
        """Built the way every adapter builds its own (:mod:`.managed`)."""
        from .managed import ManagedTokens

        return ManagedTokens.from_settings(self.settings)

    @property
    def zero(self) -> ZeroConfig | None:
        """Discovery per API when no provider is configured (see :mod:`.zero_config`)."""
        return self.tokens.zero_config

    @cached_property
    def manager(self) -> TokenManager:
        if self.resource:
            return self.tokens.manager_for(self.resource)
        if self.zero is not None:
            which = _apis_found(self.zero)
            raise ConfigurationError(
                f"No provider is configured; pass --resource URL ({which}), or set "
                "STYTCH_PROJECT_DOMAIN and STYTCH_CLIENT_ID (or STYTCH_ISSUER)."
            )
        return self.tokens.manager

    @property
    def profile(self) -> str:
        """For messages: "profile 'work'", or what applies when no profile is in use."""
        name = self.settings.profile
        return f"profile {name!r}" if name else "the settings without a profile"


def _apis_found(zero: ZeroConfig) -> str:
    """Which URL ``--resource`` wants: the APIs found so far (``status`` lists them), so
    ``token`` or ``logout`` without it need no second command to learn them."""
    from .oauth.urls import shown_url

    found = sorted({binding.resource for binding in zero.bindings.known()})
    if not found:
        return "the API: it says where to sign in"
    more = f" and {len(found) - 3} more (`{PROG} status`)" if len(found) > 3 else ""
    return "APIs found so far: " + ", ".join(shown_url(r) for r in found[:3]) + more


# -- commands ----------------------------------------------------------------------------------


def cmd_login(ctx: Context) -> int:
    """A new browser sign-in now, whatever is stored."""
    if ctx.zero is not None and ctx.resource:  # a refused registration is replaced once
        manager = ctx.zero.manager(ctx.zero.sign_in(ctx.zero.find(ctx.resource)))
    else:
        manager = ctx.manager
        manager.login()
    if not manager.grant.stores:  # a machine credential: nothing signs in or is stored
        say("Got a new access token with the machine credential (client credentials).")
        return 0
    if manager.unsaved:  # the store failed after the browser: this sign-in ends with us
        raise TokenStoreError(
            f"The {manager.store.description} refused the new tokens; fix it and run "
            f"`{PROG} login` again."
        )
    # In zero configuration the tokens are the API's: there are no settings to name.
    if ctx.zero is not None and manager.resource:
        from .oauth.urls import shown_url

        whose = shown_url(manager.resource)  # the API's own spelling: shown short, as all are
    else:
        whose = ctx.profile
    say(f"Tokens for {whose} are kept in the {manager.store.description}.")
    return 0


def cmd_logout(ctx: Context) -> int:
    """Revoke at the provider (RFC 7009), then delete locally even if the provider is away;
    with --resource and no provider configured, also forget the API's binding and the client
    registered for it, so the next run discovers and registers afresh."""
    if ctx.zero is not None and ctx.resource:
        return _logout_resource(ctx, ctx.zero, ctx.resource)
    manager = ctx.manager
    if manager.supplied is not None:
        say(
            f"Nothing to sign out of: the access token comes from {manager.supplied.source}; "
            "remove it there to stop sending it."
        )
        return 0
    if not manager.grant.stores:  # a machine: only a cached access token to forget, if any
        from .storage.access_cache import AccessTokenCache

        cached = manager.current()[0] or AccessTokenCache().load(manager.key)
        manager.logout()
        if cached is None:
            say(
                "Not signed in: no access token is cached for the machine credential, so there "
                "was nothing to forget (remove the credential to stop getting new ones)."
            )
            return 0
        say(
            "Forgot the cached access token; a machine credential has no session to sign out "
            "of, so the next request gets a new token with it (remove the credential to stop)."
        )
        return 0
    revoked = manager.logout()
    _said_logout(ctx, revoked)
    return 0


def _logout_resource(ctx: Context, zero: ZeroConfig, url: str) -> int:
    """``logout --resource URL`` in zero configuration: never walks the chain (that could
    register a client only to sign out)."""
    from .oauth.urls import shown_url
    from .zero_config.client_identity import (
        RegistrationStore,
        forget_registration,
        registration_redirect,
    )
    from .zero_config.reach import provider_http_for

    binding = zero.binding_for(url)
    unusable = zero.forget_unusable(url)  # a registration answer it could not use, if any
    if unusable:
        say(unusable)
    if binding is None:
        if not unusable:
            say(f"Not signed in: nothing is known about {url}.")
        return 0
    _said_logout(ctx, zero.manager(binding).logout(), shown_url(binding.resource))
    zero.bindings.forget(binding.resource)
    if binding.client_source == "registered":
        redirect = registration_redirect(ctx.settings.redirect_path, binding.issuer)
        http = provider_http_for(binding.resource, ctx.settings, zero.session)
        registrations = RegistrationStore(zero.store)
        deleted = forget_registration(
            registrations, binding.issuer, redirect, binding.client_id, session=http
        )
        say(
            f"Forgot the client registered at {shown_url(binding.issuer)} ({binding.client_id})"
            + (" and deleted it there (RFC 7592)" if deleted else "")
            + f" and what was discovered for {shown_url(binding.resource)}; the next run "
            "registers and discovers again."
        )
    else:
        say(f"Forgot what was discovered for {shown_url(binding.resource)}.")
    return 0


def _said_logout(ctx: Context, revoked: bool | None, resource: str | None = None) -> None:
    """``resource``: the API signed out of in zero configuration, named instead of settings."""
    if revoked is None:
        say(f"Not signed in: nothing is stored for {resource or ctx.profile}.")
    elif revoked:
        say("Signed out: the provider revoked the session and the stored tokens were deleted.")
    else:
        say(
            "Signed out on this machine: the stored tokens were deleted, but the provider could "
            "not revoke them, so they stay valid there until they expire."
        )


class NotSignedIn(LoginError):
    """``status``: nothing is stored (``--json``: ``"error": "not_signed_in"``)."""


class NotConfigured(ConfigurationError):
    """``status``: no provider and no API signed in to (``--json``: ``"not_configured"``)."""


def cmd_status(ctx: Context) -> int:
    """Who is signed in, with which scopes, until when, and where the tokens are kept.

    ``--json``: one object on stdout whatever happens (an array of them in zero configuration
    without ``--resource``); not signed in, or any error, is ``{"signed_in": false, "error":
    CODE, "message": …}`` with the exit status of the plain form and nothing on stderr."""
    if ctx.zero is not None and not ctx.resource:
        bindings = ctx.zero.bindings.known()
        if not bindings:
            raise NotConfigured(
                "Nothing is configured and no API has been signed in to; set the provider: "
                "STYTCH_PROJECT_DOMAIN, STYTCH_CLIENT_ID and STYTCH_AUTHORIZE_URL for Stytch, or "
                "STYTCH_ISSUER and STYTCH_CLIENT_ID for another OpenID provider (or a profile in "
                f"the config file `{PROG} config` names); or, for an API that says where to "
                f"sign in, run `{PROG} login --resource URL`."
            )
        # Every API found by zero configuration, one signed in or not (``--json``: one array).
        infos = [_status(ctx, ctx.zero.manager(b), b.resource, listing=True) for b in bindings]
        if getattr(ctx.args, "json", False):
            print(json.dumps(infos, indent=2, sort_keys=True))
        return 0
    info = _status(ctx, ctx.manager, ctx.resource)
    if info is not None:
        print(json.dumps(info, indent=2, sort_keys=True))
    return 0


def _status(
    ctx: Context, manager: TokenManager, resource: str | None, *, listing: bool = False
) -> dict[str, Any] | None:
    """The status of ``manager``'s tokens: printed as a table, or returned for ``--json``.
    ``listing``: one API of several, where one not signed in is a line, not an error."""
    from .oauth.tokens import TokenSet

    tokens, source = manager.current()
    login = f"`{PROG} login --resource {resource}`" if resource else f"`{PROG} login`"
    if tokens is None and manager.grant.stores:
        if not listing:
            where = f"for {resource}" if resource else f"with {ctx.profile}"
            raise NotSignedIn(f"Not signed in {where}; run {login} to sign in.")
        if getattr(ctx.args, "json", False):
            return {
                "resource": resource,
                "signed_in": False,
                "error": "not_signed_in",
                "message": f"Not signed in for {resource}; run {login} to sign in.",
            }
        _table((("API", resource or ""), ("Signed in", f"no; {login} signs in")))
        return None
    if getattr(ctx.args, "json", False):
        info = token_info(tokens or TokenSet(access_token=""), manager, source)
        info.pop("access_token")
        info.update(profile=ctx.settings.profile, resource=resource, signed_in=True)
        return info
    if tokens is None:  # a machine with nothing cached: the next request gets one
        rows: tuple[tuple[str, str], ...] = (
            ("Profile", ctx.settings.profile or "(none)"),
            ("Token from", source),
            ("Access token", f"none cached; `{PROG} token` gets one"),
        )
        _table(rows)
        return None
    if manager.supplied is not None:
        claims = unverified_claims(tokens.access_token)
        rows = (
            ("Profile", ctx.settings.profile or "(none)"),
            ("Token from", source),
            ("Subject", str(claims.get("sub") or "unknown (not a JWT)")),
            ("Access token", _expiry(_with_claimed_expiry(tokens, claims), supplied=True)),
        )
        _table(rows)
        return None
    endpoints = manager.endpoints
    person = manager.grant.stores
    rows = (
        *((("API", resource),) if resource else ()),
        ("Profile", ctx.settings.profile or "(none)"),
        ("Provider", endpoints.issuer or endpoints.token_endpoint),
        ("Token from", "signed in" if person else source),  # the store has its own row
        (
            ("Signed in as", _user(manager, tokens))
            if person
            else ("Client", f"{manager.client_id} (client credentials)")
        ),
        ("Scopes", tokens.scope or " ".join(manager.scopes) or "(the client's own)"),
        ("Access token", _expiry(tokens)),
        (
            ("Refresh token", "stored" if tokens.refresh_token else "none: sign in again at expiry")
            if person
            else ("Refresh token", "none: a new token is asked for near expiry")
        ),
        ("Token store", manager.store.description if person else "none (never stored)"),
    )
    _table(rows)
    return None


def _table(rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows) + 1
    for name, value in rows:
        print(f"{name + ':':<{width}} {value}")


def cmd_discover(ctx: Context) -> int:
    """What the chain finds for an API, without signing in or registering a client: the
    resource, its authorization server and endpoints, the client identity, the redirect URI a
    sign-in there sends (what a client ID metadata document must list), the scopes, and
    (a ``Fallback`` line) how an older API without resource metadata was taken (MCP 2025-03-26)."""
    url = ctx.resource or ""
    from .zero_config.binding import FALLBACKS
    from .zero_config.redirect_paths import sign_in_redirect

    zero = ctx.zero or ctx.tokens.discovery()
    binding = zero.discover(url, zero.probe(url), register_now=False)
    port = ctx.settings.callback_port
    redirect = sign_in_redirect(
        ctx.settings.redirect_path,
        binding.issuer,
        binding.client_source,
        host=ctx.settings.callback_host,
        port=port,
    )
    _table(
        (
            ("Resource", binding.resource),
            ("Authorization server", binding.issuer),
            ("Authorization endpoint", binding.authorization_endpoint),
            ("Token endpoint", binding.token_endpoint),
            ("Registration endpoint", binding.registration_endpoint or "(none)"),
            ("Client", _client_shown(binding.client_id, binding.client_source)),
            ("Redirect URI", redirect if port else f"{redirect} (any port)"),
            ("Scopes", " ".join(binding.scopes)),
            *((("Fallback", FALLBACKS[binding.fallback]),) if binding.fallback else ()),
        )
    )
    return 0


def _client_shown(client_id: str, source: str) -> str:
    """``discover``'s client: its ID and where it came from, or that none is registered yet
    (the ID is then only a placeholder naming the registration endpoint, its own row)."""
    if source == "to be registered":
        return "none yet: the first sign-in registers one at the registration endpoint"
    return f"{client_id} ({source})"


def _user(manager: TokenManager, tokens: TokenSet) -> str:
    from .oauth.identity import EXPIRED, signed_in_as

    who, source = signed_in_as(manager.endpoints, manager.client_id, manager.client.http, tokens)
    if source == EXPIRED:
        return f"unknown until the access token is refreshed (`{PROG} token` does that)"
    return f"{who or 'unknown'} ({source})"


def _expiry(tokens: TokenSet, now: float | None = None, *, supplied: bool = False) -> str:
    """Total: any stored expiry, however absurd (an older release kept ``1e300``), gives a
    line, never an exception. ``supplied``: a token handed to us, which nothing refreshes or
    replaces by signing in, so an expired one asks for a fresh one."""
    if tokens.expires_at is None:
        return "no expiry given: used until the API rejects it"
    now = time.time() if now is None else now
    left = tokens.expires_at - now
    if not math.isfinite(left):
        return "expiry unknown: used until the API rejects it"
    at = clock(tokens.expires_at)
    if left > 0:
        return f"valid for {human_duration(left)}" + (f" (until {at})" if at else "")
    then = (
        SUPPLY_FRESH
        if supplied
        else "the next request refreshes it"
        if tokens.refresh_token
        else "sign in again"
    )
    return f"{expired_ago(tokens.expires_at)}; {then}"


def cmd_token(ctx: Context) -> int:
    """A valid access token on stdout and nothing else: refreshed or signed in as needed.

    ``--json``: {access_token, token_type, expires_at (RFC 3339), expires_at_epoch, scopes,
    subject, organization_id, source}; ``--format header|env|headers-json``. Stable for scripts.
    """
    if getattr(ctx.args, "format", None) == "env":
        _env_name(ctx)  # refused before any sign-in
    manager, token = _token(ctx)
    form = getattr(ctx.args, "format", None) or (
        "json" if getattr(ctx.args, "json", False) else None
    )
    if form == "json":
        tokens = _in_use(manager, token)
        print(
            json.dumps(token_info(tokens, manager, manager.current()[1]), indent=2, sort_keys=True)
        )
    elif form == "header":
        print(f"Authorization: Bearer {token}", flush=True)
    elif form == "env":
        name = _env_name(ctx)
        print(f"{name}={token}", flush=True)
    elif form == "headers-json":
        print(json.dumps({"Authorization": f"Bearer {token}"}), flush=True)
    else:
        print(token, flush=True)
    return 0


#: The variable ``exec`` puts the token in unless told otherwise.
EXEC_ENV = "STYTCH_ACCESS_TOKEN"
#: ``exec`` renews a token that would expire within this many seconds (the command's start-up).
EXEC_MARGIN = 60.0


def _env_name(ctx: Context) -> str:
    """The --env variable name, refused in one sentence unless a shell could read it."""
    given: str | None = getattr(ctx.args, "env", None)
    name = EXEC_ENV if given is None else given  # `--env "$UNSET"` is refused, not the default
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ConfigurationError(
            "--env takes a variable name of letters, digits and underscores, not starting "
            "with a digit (the value is the token)."
        )
    return name


def cmd_exec(ctx: Context) -> int:
    """Run COMMAND with a fresh access token in its environment (never printed); exit with
    its exit status."""
    argv = list(getattr(ctx.args, "argv", None) or [])
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise ConfigurationError(f"Nothing to run: `{PROG} exec [--env NAME] -- COMMAND …`.")
    name = _env_name(ctx)
    unrunnable = _cannot_run(argv[0])  # said before any sign-in: a typo costs no token
    if unrunnable is not None:
        return _said_cannot_run(argv[0], *unrunnable)
    manager, token = _token(ctx)
    tokens = _in_use(manager, token)
    soon = tokens.expires_at is not None and tokens.expires_at - time.time() < EXEC_MARGIN
    if soon and manager.supplied is None:
        manager, token = _token(ctx, rejected=token)  # renewed before the command starts
    try:
        code = _run_as_a_shell(argv, _child_environment(name, token))
    except OSError as exc:  # gone or changed since the check above
        if exc.errno == errno.ENOENT:
            return _said_cannot_run(argv[0], EXIT_NOT_FOUND, NOT_FOUND)
        reason = exc.strerror or type(exc).__name__
        return _said_cannot_run(argv[0], EXIT_CANNOT_RUN, f"cannot be run ({reason}); {FIX_RUN}")
    return 128 - code if code < 0 else code  # killed by a signal: the shell's convention


def _run_as_a_shell(argv: list[str], env: dict[str, str]) -> int:
    """Run ``argv`` and wait for it as a shell waits for a foreground job; its exit status
    (negative: the signal that ended it). Ctrl-C (SIGINT, which the terminal sends the whole
    group, the command included) is the command's to handle, so it does not end ``exec`` and
    kill the command mid-cleanup; SIGTERM and SIGHUP sent to ``exec`` alone (``timeout``, a
    closed window, a CI runner cancelling the step) are passed on to the command. The handlers
    are in place before the command starts (a signal in between is not lost: the command is
    then not started), and are Python functions, not SIG_IGN, so the command inherits the
    default dispositions. Raises OSError when the command cannot be started."""
    import signal
    import subprocess

    started: list[subprocess.Popen[bytes]] = []
    early: list[int] = []

    def forward(signum: int, frame: object) -> None:
        if started:
            if signum != signal.SIGINT:  # the terminal gave the command its own SIGINT
                started[0].send_signal(signum)
        else:
            early.append(signum)

    numbers = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {number: signal.signal(number, forward) for number in numbers}
    try:
        if early:
            return -early[0]
        started.append(subprocess.Popen(argv, env=env))
        if early:  # arrived while the command was being started
            started[0].send_signal(early[0])
        return started[0].wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


#: What ``exec``'s command does not inherit: the long-lived secret the token was got with. The
#: command gets the short-lived token; a child that prints its environment (``env``, ``set -x``,
#: a crash report) must not print the machine credential with it.
WITHHELD_FROM_COMMAND = ("STYTCH_CLIENT_SECRET",)


def _child_environment(name: str, token: str) -> dict[str, str]:
    """This process's environment for ``exec``'s command: the token in ``name``, the secret
    (:data:`WITHHELD_FROM_COMMAND`) left out."""
    kept = {key: value for key, value in os.environ.items() if key not in WITHHELD_FROM_COMMAND}
    return {**kept, name: token}


#: ``exec``'s exit status, as a shell's: no such command, and one found that cannot be run.
EXIT_NOT_FOUND = 127
EXIT_CANNOT_RUN = 126
NOT_FOUND = "command not found; check its name and PATH, or give its path"
FIX_RUN = "make it executable (chmod +x) or run it through its interpreter"


def _cannot_run(command: str) -> tuple[int, str] | None:
    """(exit status, why) for a command that cannot be started, as a shell would say it: 127
    when there is no such command, 126 when it is found but cannot be executed; None if it
    can (the PATH search of ``subprocess``, with ``os.environ``'s PATH)."""
    import shutil

    if os.sep in command or (os.altsep and os.altsep in command):
        candidates = [command]
    else:
        if shutil.which(command) is not None:
            return None
        path = os.environ.get("PATH", os.defpath).split(os.pathsep)
        candidates = [os.path.join(folder or os.curdir, command) for folder in path]
    for candidate in candidates:
        if os.path.isdir(candidate):
            if len(candidates) == 1:
                return EXIT_CANNOT_RUN, "is a directory; name the program in it to run"
        elif os.path.exists(candidate):
            if os.access(candidate, os.X_OK):
                return None
            return EXIT_CANNOT_RUN, f"was found but is not executable; {FIX_RUN}"
    return EXIT_NOT_FOUND, NOT_FOUND


def _said_cannot_run(command: str, code: int, why: str) -> int:
    shown = command if command.isprintable() else repr(command)
    say(f"{PROG}: error: {shown}: {why}.")
    return code


def _token(ctx: Context, rejected: str | None = None) -> tuple[TokenManager, str]:
    """The manager and a valid token for ``ctx``; in zero configuration through the chain, so
    that a registration the server refuses is replaced once (issue 18 §1)."""
    if ctx.zero is None or not ctx.resource:
        token = ctx.manager.access_token(rejected=rejected)
        _refuse_expired_supplied(ctx.manager, token)
        return ctx.manager, token
    token = ctx.zero.access_token(ctx.zero.find(ctx.resource), rejected=rejected)
    return ctx.zero.manager(ctx.zero.find(ctx.resource)), token


def _refuse_expired_supplied(manager: TokenManager, token: str) -> None:
    """A supplied token (``access_token`` / ``access_token_file``) whose own ``exp`` claim is
    past: ``token`` and ``exec`` say so in one line instead of printing it or starting a command
    with it. It is never refreshed, so nothing else could make it valid; the time is shown so
    that a wrong local clock is visible. Read unverified: an opaque token or one without
    ``exp`` is handed over as is. Raises :class:`ConfigurationError`."""
    if manager.supplied is None:
        return
    exp = unverified_exp(token)
    if exp is None or exp > time.time():
        return
    raise ConfigurationError(
        f"The access token from {manager.supplied.source} {expired_ago(exp)}; it is used as "
        f"given, never refreshed: {SUPPLY_FRESH}."
    )


#: What to do about a supplied token that expired (``status``, ``token``, ``exec``).
SUPPLY_FRESH = "supply a fresh one, or unset it to sign in"


def _in_use(manager: TokenManager, token: str) -> TokenSet:
    from .oauth.tokens import TokenSet

    tokens = manager.current()[0]
    return tokens if tokens is not None and tokens.access_token == token else TokenSet(token)


def _with_claimed_expiry(tokens: TokenSet, claims: dict[str, Any]) -> TokenSet:
    from dataclasses import replace

    exp = claims.get("exp")
    if tokens.expires_at is None and isinstance(exp, (int, float)):
        return replace(tokens, expires_at=float(exp))
    return tokens


#: Stytch B2B access tokens name the member's organization in this claim.
STYTCH_ORGANIZATION = "https://stytch.com/organization"


def token_info(tokens: TokenSet, manager: TokenManager, source: str) -> dict[str, Any]:
    """What ``token --json`` prints (``status --json``: the same without ``access_token``).
    Subject, organization and a missing expiry are read from the token's claims when it is
    a JWT, unverified (for showing only)."""
    from datetime import datetime, timezone

    claims = unverified_claims(tokens.access_token) if tokens.access_token else {}
    tokens = _with_claimed_expiry(tokens, claims)
    expires = tokens.expires_at
    organization = claims.get(STYTCH_ORGANIZATION)
    org_id = organization.get("organization_id") if isinstance(organization, dict) else None
    scope = tokens.scope or (claims.get("scope") if isinstance(claims.get("scope"), str) else None)
    return {
        "access_token": tokens.access_token or None,
        "token_type": "Bearer",
        "expires_at": None
        if expires is None
        else datetime.fromtimestamp(int(expires), timezone.utc).isoformat().replace("+00:00", "Z"),
        "expires_at_epoch": None if expires is None else int(expires),
        # A supplied token's scopes are what it says, or unknown: never the configured ones.
        "scopes": scope.split() if scope else None if manager.supplied else list(manager.scopes),
        "subject": claims.get("sub") if isinstance(claims.get("sub"), str) else None,
        "organization_id": org_id if isinstance(org_id, str) else None,
        "source": source,
    }


def cmd_config(ctx: Context) -> int:
    """Every setting with its value and where it came from; none of them is a secret."""
    from .settings.credentials import CLIENT_CREDENTIALS, grant_type
    from .storage.paths import config_file

    path = config_file(ctx.environ)
    print(f"Config file: {path} ({'found' if path.exists() else 'not found'})")
    print(f"Profile: {ctx.settings.profile or '(none)'}")
    width = max(len(o.name) for o in OPTIONS)
    ignored = ctx.settings.ignored()
    machine = grant_type(ctx.settings) == CLIENT_CREDENTIALS
    for option in OPTIONS:
        value = _show(ctx.settings.values[option.name])
        if option.name in UNSET and not ctx.settings.values[option.name]:
            value = UNSET[option.name]  # an empty list means something: say what
        source = ctx.settings.sources[option.name]
        if option.name == "scopes" and machine and source == "default":
            value = "(none: the machine client's own)"  # the default is a person's scopes
        if option.secret and ctx.settings.values[option.name] is not None:
            value = "set"  # a secret: never shown
        why = f"; ignored: {ignored[option.name]}" if option.name in ignored else ""
        print(f"{option.name:<{width}} = {value}  ({source}{why})")
    for name, near in ctx.settings.unknown_env.items():
        hint = f"did you mean {near}?" if near else "not a setting of this package"
        print(f"Unknown environment variable {name} (ignored; {hint})")
    return 0


#: What ``config`` shows for a list setting left unset: what that means, not a blank.
UNSET = {
    "hosts": "(any host: the token goes to every URL you send a request to)",
    "trusted_issuers": "(none: you are asked before signing in at a server an API names)",
    "local_hosts": "(none: only loopback hosts, 127.0.0.1, ::1 and localhost, are yours)",
}


def _show(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return " ".join(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def cmd_demo(argv: list[str]) -> int:
    from . import demo

    return demo.main(argv)


COMMANDS: dict[str, tuple[Callable[[Context], int], str]] = {
    "login": (cmd_login, "sign in with the browser now"),
    "logout": (cmd_logout, "revoke the session at the provider and delete the stored tokens"),
    "status": (cmd_status, "show who is signed in, the scopes and when the token expires"),
    "token": (cmd_token, "print a valid access token (signing in if needed)"),
    "exec": (cmd_exec, "run a command with a fresh access token in its environment"),
    "config": (cmd_config, "show the resolved settings and where each came from"),
    "discover": (cmd_discover, "show what an API's 401 leads to, without signing in"),
}


# -- the command line -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Global options are accepted before or after the command."""
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--profile", metavar="NAME", help="profile in the config file")
    common.add_argument("--debug", action="store_true", help="debug logging on stderr")
    common.add_argument(
        "--resource", metavar="URL", help="the API, when no provider is configured (zero config)"
    )
    group = common.add_argument_group("settings (override STYTCH_* and the profile)")
    for option in OPTIONS:
        _add_setting(group, option)
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="Sign in to Stytch Connected Apps (or any OpenID provider) for HTTPie "
        "and requests.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (function, summary) in COMMANDS.items():
        command = commands.add_parser(
            name, parents=[common], help=summary, description=function.__doc__
        )
        if name == "discover":
            command.add_argument("resource", metavar="URL", help="the API's URL")
        if name == "status":
            command.add_argument("--json", action="store_true", help="JSON for scripts")
        if name == "token":
            # One output form: --json and --format together printed --format's silently.
            output = command.add_mutually_exclusive_group()
            output.add_argument("--json", action="store_true", help="JSON for scripts")
            output.add_argument(
                "--format",
                choices=("token", "header", "env", "headers-json"),
                help="header: 'Authorization: Bearer …'; env: NAME=…; headers-json: "
                '{"Authorization": "Bearer …"}',
            )
        if name in ("token", "exec"):
            command.add_argument(
                "--env", metavar="NAME", help=f"the variable name (default {EXEC_ENV})"
            )
        if name == "exec":
            command.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND …")
    commands.add_parser(
        "demo", add_help=False, help="try it all against a local emulator (demo --help)"
    )
    return parser


def _add_setting(group: argparse._ArgumentGroup, option: Option) -> None:
    flag = "--" + option.flag
    if option.is_flag and option.name.startswith("no_"):
        group.add_argument(flag, dest=option.name, action="store_true", help=option.doc)
    elif option.is_flag:
        group.add_argument(
            flag, dest=option.name, action=argparse.BooleanOptionalAction, help=option.doc
        )
    elif option.secret:
        # argv is public on this machine (ps, /proc) and kept in shell history: say so where
        # the flag is offered, with the two ways that are not.
        instead = f"{option.env} or --{option.flag}-file"
        warning = f"; other local users can read it in the process list; prefer {instead}"
        group.add_argument(flag, dest=option.name, metavar="VALUE", help=option.doc + warning)
    else:
        group.add_argument(flag, dest=option.name, metavar="VALUE", help=option.doc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args: argparse.Namespace | None = None
    settings: Settings | None = None
    try:
        args, rest = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
        if args.command == "demo":
            return cmd_demo(rest)
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        if args.command == "token" and args.env is not None and args.format != "env":
            # Otherwise ignored: the token printed bare, not as the NAME=… asked for.
            _subparser(parser, "token").error("--env NAME goes with --format env")
        if getattr(args, "debug", False):
            debug_logging(PROG)
        explicit = {o.name: getattr(args, o.name) for o in OPTIONS if hasattr(args, o.name)}
        settings = load_settings(explicit, os.environ, getattr(args, "profile", None))
        context = Context(settings, os.environ, getattr(args, "resource", None))
        context.args = args
        return COMMANDS[args.command][0](context)
    except AuthenticationError as exc:
        if _status_json(args):
            return _status_failed(args, settings, _error_code(exc), str(exc))
        say(f"{PROG}: error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        say(f"{PROG}: interrupted.")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`token --json | head -c 1`): as `cat` does
        _stdout_gone()
        return EXIT_ERROR
    except Exception as exc:  # the last resort: nothing a provider sends ends in a traceback
        command = getattr(args, "command", None) or "command"
        debug = bool(getattr(args, "debug", False))
        if debug:
            import traceback

            traceback.print_exc(file=sys.stderr)
        # The system's own words for an OSError (a full disk under stdout): never a value.
        why = f": {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else ""
        if _status_json(args):
            what = f"status failed unexpectedly ({type(exc).__name__}{why}); run it with --debug."
            return _status_failed(args, settings, "unexpected", what)
        say(
            f"{PROG}: error: {command} failed unexpectedly ({type(exc).__name__}{why}); "
            + ("the traceback is above." if debug else "run it again with --debug for details.")
        )
        return EXIT_ERROR


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of command ``name``, so a usage error shows that command's usage."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]  # type: ignore[no-any-return]
    return parser


def _stdout_gone() -> None:
    """Point stdout at the null device: what is still buffered for a reader that has gone
    must not fail again at exit ("Exception ignored … BrokenPipeError" on stderr)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):  # no stdout file descriptor to replace: nothing to flush
        pass


def _status_json(args: argparse.Namespace | None) -> bool:
    return args is not None and args.command == "status" and bool(getattr(args, "json", False))


def _error_code(exc: AuthenticationError) -> str:
    """``status --json``'s ``error``: what kind of failure, for scripts (stable)."""
    from .errors import TokenEndpointError

    codes: tuple[tuple[type[AuthenticationError], str], ...] = (
        (NotSignedIn, "not_signed_in"),
        (NotConfigured, "not_configured"),
        (ConfigurationError, "configuration"),
        (TokenStoreError, "token_store"),
        (TokenEndpointError, "provider"),
        (LoginError, "login"),
    )
    return next((code for kind, code in codes if isinstance(exc, kind)), "error")


def _status_failed(
    args: argparse.Namespace | None, settings: Settings | None, code: str, message: str
) -> int:
    """``status --json`` that could not say who is signed in: one object on stdout, saying
    why, and the exit status of the plain form; nothing on stderr."""
    info = {
        "signed_in": False,
        "error": code,
        "message": message,
        "profile": settings.profile if settings is not None else None,
        "resource": getattr(args, "resource", None),
    }
    try:
        print(json.dumps(info, indent=2, sort_keys=True), flush=True)
    except BrokenPipeError:  # the reader went away: nobody to tell
        _stdout_gone()
    except OSError:  # stdout cannot be written (a full disk): the one line goes to stderr
        _stdout_gone()
        say(f"{PROG}: error: {message}")
    return EXIT_ERROR
