"""The redirect path of a sign-in at an authorization server found by discovery.

A client we register (or name by its metadata document) signs in at a redirect path of its
own per authorization server, the mix-up defence of RFC 9700 §4.4.2 that does not depend on
the honest server sending ``iss``: a code the honest server sends for its own sign-in arrives at
its own path, which a sign-in for another server does not listen on, and the honest server
refuses to send it to that other server's path. Kept apart from :mod:`.client_identity` because
a warm run needs the path (to build its manager) but none of the registration machinery.
"""

from __future__ import annotations

import hashlib

#: Hex digits of the issuer's SHA-256 in its redirect path: enough that no two servers a
#: person meets share one, short enough to read.
_PATH_DIGITS = 12


def server_redirect_path(redirect_path: str, issuer: str) -> str:
    """``redirect_path`` followed by a short hash of ``issuer``: one redirect URI per
    authorization server (RFC 9700 §4.4.2), registered with it and listened on only by a
    sign-in at it (the callback server accepts exactly its own path)."""
    digest = hashlib.sha256(issuer.encode()).hexdigest()[:_PATH_DIGITS]
    return f"{redirect_path.rstrip('/')}/{digest}"


def sign_in_path(redirect_path: str, issuer: str, client_source: str) -> str:
    """The redirect path a client of ``client_source`` signs in at ``issuer`` with: its own
    per server for a client we registered or named by its metadata document; the configured
    one (``http://127.0.0.1/callback`` as registered with the provider) for a configured
    client."""
    if client_source in ("registered", "metadata document", "to be registered"):
        return server_redirect_path(redirect_path, issuer)
    return redirect_path


def sign_in_redirect(
    redirect_path: str,
    issuer: str,
    client_source: str,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
) -> str:
    """The redirect URI a sign-in at ``issuer`` sends, as a client registers it or a client ID
    metadata document lists it: without a port (the server accepts any, RFC 8252 §7.3) unless
    the ``callback_port`` setting fixes one."""
    path = sign_in_path(redirect_path, issuer, client_source)
    return f"http://{host}{f':{port}' if port else ''}{path}"
