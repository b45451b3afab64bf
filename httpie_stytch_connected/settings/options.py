"""The settings schema: every setting's name, parser, default and help, and the typed views.

A leaf of the settings layer: the profile reader and the resolver both import it, and it imports
nothing of theirs. ``STYTCH_<NAME>`` is each setting's environment variable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypedDict, TypeVar
from urllib.parse import urlsplit

from .stytch import DEFAULT_SCOPES

_Class = TypeVar("_Class", bound=type)


def _scopes(value: Any) -> tuple[str, ...]:
    try:
        items = value.split() if isinstance(value, str) else list(value)
    except TypeError:  # not text and not a sequence: an int, None from a profile, ...
        items = []
    if not items or not all(isinstance(s, str) and s for s in items):
        raise ValueError("a space-separated string or a list of scope names")
    return tuple(dict.fromkeys(items))


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("true or false")


def _finite_seconds(value: Any, allowed: Callable[[float], bool], bound: str) -> float:
    """``value`` as a finite number of seconds for which ``allowed`` holds; else ValueError
    saying ``bound``, since "a number of seconds" told someone who gave -5 nothing they had
    not given."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"a number of seconds{bound}") from None
    if not allowed(number) or number == float("inf"):  # NaN is never allowed
        raise ValueError(f"a number of seconds{bound}")
    return number


def _seconds(value: Any) -> float:
    """A span of time that may be 0 (``leeway``)."""
    return _finite_seconds(value, lambda n: n >= 0, ", 0 or more")


def _timeout(value: Any) -> float:
    """A wait (``login_timeout``, ``keyring_timeout``): 0 would open the browser only to give
    up at once, or call a healthy keyring silent, so it is refused with the rest."""
    return _finite_seconds(value, lambda n: n > 0, " greater than 0")


def _store(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("keyring", "file"):
        raise ValueError("'keyring' or 'file'")
    return text


def _port(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError("a port number from 1 to 65535") from None
    if not 0 < number < 65536:
        raise ValueError("a port number from 1 to 65535")
    return number


#: Names of this machine's loopback interface a redirect URI may carry (RFC 8252 §7.3 prefers
#: the IP literal; some servers accept only ``localhost``). The listener is on 127.0.0.1 always.
CALLBACK_HOSTS = ("127.0.0.1", "localhost")


def _callback_host(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in CALLBACK_HOSTS:
        raise ValueError("127.0.0.1 or localhost (the listener is on 127.0.0.1 only)")
    return text


def _path(value: Any) -> str:
    text = str(value).strip()
    return text if text.startswith("/") else "/" + text


_HOSTS_HELP = "host names separated by spaces or commas (api.example.com, *.example.com, host:8443)"


def _hosts(value: Any) -> tuple[str, ...]:
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(_host_pattern(item) for item in items))


def _host_pattern(item: Any) -> str:
    pattern = str(item).strip().lower()
    name = pattern[2:] if pattern.startswith("*.") else pattern
    try:
        parts = urlsplit(f"//{name}")
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(_HOSTS_HELP) from None
    if not parts.hostname or name.endswith(":") or "@" in name or name != parts.netloc:
        raise ValueError(_HOSTS_HELP)
    return pattern


def host_matches(url: str, patterns: tuple[str, ...]) -> bool:
    """True if ``url``'s host (and port, where a pattern names one) is one of ``patterns``.

    ``api.example.com`` is that host on any port, ``api.example.com:8443`` only that port,
    ``*.example.com`` any host below example.com (not example.com itself).
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    for pattern in patterns:
        wildcard = pattern.startswith("*.")
        wanted = urlsplit("//" + (pattern[2:] if wildcard else pattern))
        if wanted.port is not None and wanted.port != port:
            continue
        if host.endswith("." + str(wanted.hostname)) if wildcard else host == wanted.hostname:
            return True
    return False


_ISSUERS_HELP = "issuer URLs separated by spaces or commas (https://login.example.com)"


def _issuers(value: Any) -> tuple[str, ...]:
    """Authorization servers named by their issuer URL, compared exactly as their metadata
    names them: a pattern would let an API pick a lookalike server the person never meant."""
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    found = []
    for item in items:
        text = str(item).strip()
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError(_ISSUERS_HELP) from None
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query:
            raise ValueError(_ISSUERS_HELP)
        found.append(text)
    return tuple(dict.fromkeys(found))


def _text(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("a non-empty value")
    return text


class Secret(str):
    """A setting's value that must never be shown: its repr (and so the repr of the settings,
    of an auth object, of a traceback's locals) says only that it is set. ``str(secret)`` and
    sending it work as for any string."""

    def __repr__(self) -> str:
        return "Secret('***')"


def _secret(value: Any) -> Secret:
    return Secret(_text(value))


def _grant(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("client_credentials", "authorization_code"):
        raise ValueError("'client_credentials' or 'authorization_code'")
    return text


def _auth_method(value: Any) -> str:
    text = str(value).strip()
    if text not in ("none", "client_secret_basic", "client_secret_post", "private_key_jwt"):
        raise ValueError("'client_secret_basic', 'client_secret_post', 'private_key_jwt' or 'none'")
    return text


class Option:
    """One setting: its name, the parser of a raw value, its default and a line of help.

    A plain class rather than a dataclass: this module loads on every warm run, and a
    dataclass compiles its generated methods at import time.
    """

    __slots__ = ("default", "doc", "name", "parse")

    def __init__(
        self, name: str, parse: Callable[[Any], Any], default: Any = None, doc: str = ""
    ) -> None:
        self.name = name
        self.parse = parse
        self.default = default
        self.doc = doc

    def __repr__(self) -> str:
        return f"Option({self.name!r}, {self.parse.__name__}, {self.default!r}, {self.doc!r})"

    @property
    def secret(self) -> bool:
        """Never shown: ``config`` says only that it is set, and where from."""
        return self.parse is _secret

    @property
    def env(self) -> str:
        return "STYTCH_" + self.name.upper()

    @property
    def flag(self) -> str:
        return self.name.replace("_", "-")

    @property
    def is_flag(self) -> bool:
        """A true/false setting: a command-line switch rather than an option with a value."""
        return self.parse is _bool


OPTIONS: tuple[Option, ...] = (
    Option("client_id", _text, None, "the Connected App's client ID"),
    Option("project_domain", _text, None, "Stytch project (or custom) domain"),
    Option("authorize_url", _text, None, "your web app's page that mounts <IdentityProvider />"),
    Option("project_id", _text, None, "legacy: Stytch project ID instead of project_domain"),
    Option("environment", _text, None, "legacy: 'test' or 'live' (default from project_id)"),
    Option("issuer", _text, None, "any OpenID provider: its issuer URL (discovery)"),
    Option("authorization_endpoint", _text, None, "explicit authorization endpoint"),
    Option("token_endpoint", _text, None, "explicit token endpoint"),
    Option("revocation_endpoint", _text, None, "explicit revocation endpoint (RFC 7009)"),
    Option("scopes", _scopes, DEFAULT_SCOPES, "space-separated scopes"),
    Option("redirect_path", _path, "/callback", "path of the loopback redirect URI"),
    Option(
        "callback_port",
        _port,
        None,
        "a fixed loopback port for the redirect URI (any free port when unset)",
    ),
    Option(
        "callback_host",
        _callback_host,
        "127.0.0.1",
        "host name in the redirect URI: 127.0.0.1 or localhost (listens on 127.0.0.1)",
    ),
    Option("login_timeout", _timeout, 300.0, "seconds to wait for the browser sign-in"),
    Option(
        "leeway",
        _seconds,
        60.0,
        "refresh this many seconds before expiry (at most half the token's lifetime)",
    ),
    Option("token_store", _store, "keyring", "'keyring' or 'file' (opt-in, 0600 files)"),
    Option("access_token_cache", _bool, True, "keep the access token in a 0600 cache file"),
    Option("keyring_timeout", _timeout, 20.0, "seconds before a silent keyring is an error"),
    Option("no_browser", _bool, False, "never open a browser; print the URL instead"),
    Option(
        "allow_insecure_http", _bool, False, "send the token to plain http:// (non-loopback) URLs"
    ),
    Option("client_metadata_url", _text, None, "zero config: your client ID metadata document"),
    Option("hosts", _hosts, (), "the only hosts the token is sent to (*.example.com, host:port)"),
    Option(
        "trusted_issuers",
        _issuers,
        (),
        "zero config: servers any API may send you to sign in at, without asking (issuer URLs)",
    ),
    Option(
        "local_hosts",
        _hosts,
        (),
        "zero config: your hosts on this machine or network (default: loopback ones)",
    ),
    Option("client_secret", _secret, None, "machine or confidential client: the client secret"),
    Option("client_secret_file", _text, None, "a file (0600) holding the client secret"),
    Option("private_key_file", _text, None, "a PEM private key (0600): private_key_jwt"),
    Option(
        "token_endpoint_auth_method",
        _auth_method,
        None,
        "client_secret_basic, client_secret_post or private_key_jwt (default: as offered)",
    ),
    Option(
        "grant_type",
        _grant,
        None,
        "client_credentials (a machine) or authorization_code (a person); default: see README",
    ),
    Option("access_token", _secret, None, "a token to use as is (never stored or refreshed)"),
    Option("access_token_file", _text, None, "a file (0600) holding a token to use as is"),
)
_BY_NAME = {o.name: o for o in OPTIONS}


def settings_help() -> str:
    """The settings as an auth class's docstring lists them for ``help()``: each keyword
    argument, its environment variable, its default and its line of help."""
    lines = [
        "Settings: keyword arguments, each falling back to its STYTCH_* variable, then to the",
        "profile in the config file (`stytch-connected config` shows what is in effect):",
        "",
    ]
    for option in OPTIONS:
        default = option.default
        shown = "" if default in (None, ()) else f", default {_shown(default)}"
        lines.append(f"    {option.name} ({option.env}{shown}): {option.doc}")
    lines += [
        "",
        "Besides the settings: profile= (a profile of the config file), environ= (instead of",
        "os.environ), opener= (opens the sign-in page: a callable taking the URL, returning",
        "False when it could not), notify= (receives each message for the person), store= and",
        "session= (the token store and the requests.Session for provider calls; the httpx and",
        "httpx2 classes call the provider through the client sending the request unless a",
        "session= is given).",
    ]
    return "\n".join(lines)


def lists_settings(cls: _Class) -> _Class:
    """Class decorator: ``cls``'s docstring followed by :func:`settings_help`, so ``help()`` of
    an auth class lists every setting it takes."""
    first, *rest = (cls.__doc__ or "").strip("\n").splitlines() or [""]
    margin = min((len(line) - len(line.lstrip()) for line in rest if line.strip()), default=0)
    own = "\n".join([first.strip(), *(line[margin:] for line in rest)]).strip()
    cls.__doc__ = f"{own}\n\n{settings_help()}" if own else settings_help()
    return cls


def _shown(value: Any) -> str:
    return " ".join(value) if isinstance(value, tuple) else str(value)


#: ``STYTCH_*`` variables that are not settings but are read: where files go, which profile,
#: and the knobs of the testing helpers (the scripted browser, the test keyring).
OTHER_ENV = (
    "STYTCH_PROFILE",
    "STYTCH_CONFIG",
    "STYTCH_CACHE_DIR",
    "STYTCH_DATA_DIR",
    "STYTCH_LOCK_DIR",
    "STYTCH_TEST_KEYRING_DIR",
    "STYTCH_TEST_KEYRING_FAULT",
    "STYTCH_TEST_KEYRING_KILL_AT",
    "STYTCH_TEST_KEYRING_REFUSE",
    "STYTCH_DEFAULT_DOMAIN_ISS",
    "STYTCH_UA_DECISION",
    "STYTCH_UA_EMAIL",
    "STYTCH_UA_PASSWORD",
)
KNOWN_ENV = frozenset([*(o.env for o in OPTIONS), *OTHER_ENV])
#: ``STYTCH_*`` variables of Stytch's own backend SDKs and examples, often set in the same shell:
#: not ours and no misspelling of ours, so loading the settings says nothing of them (``config``
#: still lists every variable that is not a setting).
STYTCH_SDK_ENV = frozenset({"STYTCH_SECRET", "STYTCH_PUBLIC_TOKEN"})


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` is most likely a misspelling of, if any is close."""
    import difflib  # only when a name is unknown: not on every run

    found = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return found[0] if found else None


class StytchSettingArgs(TypedDict, total=False):
    """The settings as keyword arguments, but for the four ``StytchAuth`` names positionally.

    Together with :class:`SettingArgs` this mirrors :data:`OPTIONS` (a test keeps them equal),
    so a misspelt or mistyped argument is a type error. ``None`` means "not given here".
    """

    project_id: str | None
    environment: Literal["test", "live"] | None
    issuer: str | None
    authorization_endpoint: str | None
    token_endpoint: str | None
    revocation_endpoint: str | None
    redirect_path: str | None
    callback_port: int | None
    callback_host: Literal["127.0.0.1", "localhost"] | None
    login_timeout: float | None
    leeway: float | None
    token_store: Literal["keyring", "file"] | None
    access_token_cache: bool | None
    keyring_timeout: float | None
    no_browser: bool | None
    allow_insecure_http: bool | None
    client_metadata_url: str | None
    hosts: str | Sequence[str] | None
    trusted_issuers: str | Sequence[str] | None
    local_hosts: str | Sequence[str] | None
    client_secret: str | None
    client_secret_file: str | None
    private_key_file: str | None
    token_endpoint_auth_method: (
        Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"] | None
    )
    grant_type: Literal["client_credentials", "authorization_code"] | None
    access_token: str | None
    access_token_file: str | None


class SettingArgs(StytchSettingArgs, total=False):
    """Every setting as a keyword argument of ``OAuth2PKCEAuth`` (see :data:`OPTIONS`)."""

    client_id: str | None
    project_domain: str | None
    authorize_url: str | None
    scopes: str | Sequence[str] | None


class SettingValues:
    """The resolved value of each setting, typed (a test keeps this equal to :data:`OPTIONS`)."""

    client_id: str | None
    project_domain: str | None
    authorize_url: str | None
    project_id: str | None
    environment: str | None
    issuer: str | None
    authorization_endpoint: str | None
    token_endpoint: str | None
    revocation_endpoint: str | None
    scopes: tuple[str, ...]
    redirect_path: str
    callback_port: int | None
    callback_host: str
    login_timeout: float
    leeway: float
    token_store: str
    access_token_cache: bool
    keyring_timeout: float
    no_browser: bool
    allow_insecure_http: bool
    client_metadata_url: str | None
    hosts: tuple[str, ...]
    trusted_issuers: tuple[str, ...]
    local_hosts: tuple[str, ...]
    client_secret: Secret | None
    client_secret_file: str | None
    private_key_file: str | None
    token_endpoint_auth_method: str | None
    grant_type: str | None
    access_token: Secret | None
    access_token_file: str | None


#: What other OAuth client libraries (requests-auth, authlib) call a setting of ours: a name too
#: far from ours for :func:`closest`, though someone coming from them types it first.
PEER_NAMES = {
    "token_url": "token_endpoint",
    "authorization_url": "authorization_endpoint",
    "revocation_url": "revocation_endpoint",
    "redirect_uri_port": "callback_port",
}


def check_arguments(given: Iterable[str], callable_name: str, others: Iterable[str] = ()) -> None:
    """A misspelt keyword argument, or another library's name for a setting
    (:data:`PEER_NAMES`), is a ``TypeError`` naming the setting meant."""
    known = [*_BY_NAME, *others]
    for name in given:
        if name not in known:
            near = PEER_NAMES.get(name) or closest(name, known)
            hint = f"; did you mean {near!r}?" if near else " (see `stytch-connected config`)."
            raise TypeError(f"{callable_name}() got an unexpected keyword argument {name!r}{hint}")
