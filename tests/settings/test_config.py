"""Settings precedence (argument > environment > profile > default) with the source of each
value, profile selection, and readable errors that name the setting and where it came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from httpie_stytch_connected.errors import ConfigurationError
from httpie_stytch_connected.oauth.endpoints import ProviderEndpoints
from httpie_stytch_connected.settings.config import load_settings, resolve_endpoints, storage_key
from httpie_stytch_connected.settings.options import OPTIONS
from httpie_stytch_connected.settings.stytch import stytch_endpoints
from httpie_stytch_connected.storage.metadata_cache import discover

PROFILES = """
default_profile = "work"
[profiles.work]
client_id = "from-profile"
scopes = "openid email"
login_timeout = 30
[profiles.home]
client_id = "from-home"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(PROFILES)
    return path


def test_each_layer_wins_over_the_next(config: Path) -> None:
    environ = {"STYTCH_CONFIG": str(config), "STYTCH_LOGIN_TIMEOUT": "40", "STYTCH_LEEWAY": "5"}
    settings = load_settings({"leeway": 1}, environ)
    assert settings.profile == "work"
    assert (settings.leeway, settings.sources["leeway"]) == (1.0, "argument")
    assert settings.login_timeout == 40.0
    assert settings.sources["login_timeout"] == "environment variable STYTCH_LOGIN_TIMEOUT"
    assert settings.scopes == ("openid", "email")
    assert settings.sources["scopes"] == f"profile 'work' in {config}"
    assert (settings.redirect_path, settings.sources["redirect_path"]) == ("/callback", "default")
    assert set(settings.sources) == {o.name for o in OPTIONS}


def test_the_profile_is_picked_by_argument_then_environment(config: Path) -> None:
    environ = {"STYTCH_CONFIG": str(config), "STYTCH_PROFILE": "home"}
    assert load_settings({}, environ).client_id == "from-home"
    assert load_settings({}, environ, profile="work").client_id == "from-profile"


def test_unknown_keys_and_profiles_are_named(config: Path) -> None:
    config.write_text('[profiles.default]\nclient_id = "x"\nscope = "openid"\n')
    with pytest.raises(ConfigurationError, match=r"Unknown setting 'scope'") as caught:
        load_settings({}, {"STYTCH_CONFIG": str(config)})
    assert str(config) in str(caught.value)
    with pytest.raises(ConfigurationError, match=r"Profile 'nope' is not in"):
        load_settings({}, {"STYTCH_CONFIG": str(config)}, profile="nope")


def test_an_unknown_profile_gets_a_table_header_toml_takes_and_the_near_name(
    config: Path,
) -> None:
    """``http -A stytch -a work:`` (HTTPie's user:password habit) asked for profile 'work:':
    the line said to add ``[profiles.work:]``, which TOML refuses, and not that 'work' exists."""
    import re
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib

    config.write_text('[profiles.work]\nclient_id = "x"\n')
    with pytest.raises(ConfigurationError) as caught:
        load_settings({}, {"STYTCH_CONFIG": str(config)}, profile="work:")
    message = str(caught.value)
    assert "did you mean 'work'?" in message, message
    header = re.search(r"add a (\[profiles\.[^\]]*\]) table", message)
    assert header is not None, message
    assert "work:" in tomllib.loads(header.group(1) + "\n")["profiles"]
    with pytest.raises(ConfigurationError) as plain:
        load_settings({}, {"STYTCH_CONFIG": str(config)}, profile="home")
    assert "add a [profiles.home] table" in str(plain.value)  # a bare key stays bare


def test_invalid_values_name_the_setting_and_its_source(config: Path) -> None:
    config.write_text('[profiles.default]\nlogin_timeout = "soon"\n')
    with pytest.raises(ConfigurationError, match=r"login_timeout from profile 'default' in"):
        load_settings({}, {"STYTCH_CONFIG": str(config)})
    with pytest.raises(ConfigurationError, match="no_browser from environment variable"):
        load_settings({}, {"STYTCH_CONFIG": "/nonexistent.toml", "STYTCH_NO_BROWSER": "maybe"})


def test_a_plain_http_issuer_is_refused_but_the_legacy_stytch_name_is_not() -> None:
    environ = {"STYTCH_CONFIG": "/nonexistent.toml"}
    settings = load_settings({"issuer": "http://example.com", "client_id": "c"}, environ)
    for check in (storage_key, resolve_endpoints):
        with pytest.raises(ConfigurationError, match=r"issuer must use https://"):
            check(settings)
    with pytest.raises(ConfigurationError, match=r"issuer must use https://"):
        discover("http://example.com")
    with pytest.raises(ConfigurationError, match=r"issuer must use https://"):
        ProviderEndpoints(
            authorization_endpoint="https://example.com/a",
            token_endpoint="https://example.com/t",
            issuer="http://example.com",
        ).checked()
    loopback = load_settings({"issuer": "http://127.0.0.1:9", "client_id": "c"}, environ)
    assert storage_key(loopback)
    legacy = load_settings({"project_id": "project-test-1", "client_id": "c"}, environ)
    assert storage_key(legacy)
    assert (
        stytch_endpoints(
            authorize_url="https://app.example.com/authorize", project_id="project-test-1"
        )
        .checked()
        .issuer
        == "stytch.com/project-test-1"
    )


def test_every_setting_that_routes_the_refresh_token_is_in_the_storage_key() -> None:
    """Same issuer and client, but a staging token endpoint: it must never receive (nor use)
    the production refresh token; the same goes for a revocation endpoint and the legacy
    environment, the other settings that decide where a refresh token is sent."""
    environ = {"STYTCH_CONFIG": "/nonexistent.toml"}
    base = {"issuer": "https://idp.example.com", "client_id": "c"}

    def key(**extra: str) -> str:
        return storage_key(load_settings({**base, **extra}, environ))

    production = key()
    staging = key(token_endpoint="https://staging.idp.example.com/token")
    revoking = key(revocation_endpoint="https://staging.idp.example.com/revoke")
    assert len({production, staging, revoking}) == 3
    assert key(token_endpoint="https://staging.idp.example.com/token/") == staging
    legacy = {"project_id": "project-test-1", "client_id": "c"}
    test_env = storage_key(load_settings(legacy, environ))
    assert storage_key(load_settings({**legacy, "environment": "test"}, environ)) == test_env
    assert storage_key(load_settings({**legacy, "environment": "live"}, environ)) != test_env


def test_storage_keys_of_existing_configurations_do_not_change() -> None:
    """Users stay signed in across the upgrade: keys without overrides are what they were."""
    from httpie_stytch_connected.storage.store import token_key

    environ = {"STYTCH_CONFIG": "/nonexistent.toml"}
    settings = load_settings({"issuer": "https://idp.example.com", "client_id": "c"}, environ)
    assert storage_key(settings) == token_key("https://idp.example.com", "c", settings.scopes)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.com/v1", True),
        ("http://API.example.com:8080/v1", True),  # no port in the pattern: any port
        ("https://api.example.com.evil.test/", False),
        ("https://evil.test/api.example.com", False),
        ("https://eu.corp.test/", True),
        ("https://corp.test/", False),  # *.corp.test is below corp.test, not corp.test itself
        ("https://staging.test/", False),
        ("https://staging.test:8443/", True),
        ("http://[::1]:5000/", True),
    ],
)
def test_hosts_patterns(url: str, expected: bool) -> None:
    environ = {"STYTCH_CONFIG": "/nonexistent.toml"}
    hosts = "api.example.com, *.corp.test staging.test:8443 [::1]"
    settings = load_settings({"client_id": "c", "hosts": hosts}, environ)
    assert settings.sends_token_to(url) is expected
    assert load_settings({"client_id": "c"}, environ).sends_token_to(url)  # unset: every host


@pytest.mark.parametrize("bad", ["host:", "host:port", "a/b", "user@host", "host:99999"])
def test_hosts_that_are_not_host_names_are_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="hosts from argument is invalid"):
        load_settings({"hosts": bad}, {"STYTCH_CONFIG": "/nonexistent.toml"})


def test_the_typed_views_list_exactly_the_settings_table() -> None:
    from httpie_stytch_connected.managed import StytchArgs, _Parts
    from httpie_stytch_connected.settings.options import SettingArgs, SettingValues

    names = {o.name for o in OPTIONS}
    assert set(SettingArgs.__annotations__) == names
    assert set(SettingValues.__annotations__) == names
    stytch_positional = {"project_domain", "client_id", "authorize_url", "scopes"}
    assert set(StytchArgs.__annotations__) == (names - stytch_positional) | set(
        _Parts.__annotations__
    )


@pytest.mark.parametrize(
    ("kwargs", "closest"),
    [
        ({"project_domian": "x.example.com"}, "project_domain"),
        ({"login_timout": 5}, "login_timeout"),
        ({"sesion": None}, "session"),
        # other OAuth libraries' names for a setting, too far from ours to be a misspelling
        ({"token_url": "https://t.example.com"}, "token_endpoint"),
        ({"authorization_url": "https://a.example.com"}, "authorization_endpoint"),
    ],
)
def test_a_misspelt_keyword_is_a_type_error_naming_the_closest(
    kwargs: dict[str, Any], closest: str
) -> None:
    from httpie_stytch_connected.auth import OAuth2PKCEAuth, StytchAuth

    for cls in (StytchAuth, OAuth2PKCEAuth):
        with pytest.raises(TypeError, match=rf"{cls.__name__}\(\).*did you mean '{closest}'\?"):
            cls(client_id="c", environ={"STYTCH_CONFIG": "/nonexistent.toml"}, **kwargs)


def test_mypy_rejects_a_misspelt_or_mistyped_setting(tmp_path: Path) -> None:
    import os

    from mypy import api

    import httpie_stytch_connected

    source = tmp_path / "user_code.py"
    source.write_text(
        "from httpie_stytch_connected import OAuth2PKCEAuth, StytchAuth\n"
        "StytchAuth(project_domian='x')\n"
        "OAuth2PKCEAuth(login_timeout='soon')\n"
        "auth = StytchAuth(client_id='c')\n"
        "reveal_type(auth.settings.client_id)\n"
        "reveal_type(auth.settings.login_timeout)\n"
    )
    root = Path(httpie_stytch_connected.__file__).parents[1]
    previous = os.environ.get("MYPYPATH")
    os.environ["MYPYPATH"] = str(root)
    try:
        out, _, _ = api.run(
            ["--strict", "--config-file=", f"--cache-dir={root / '.mypy_cache'}", str(source)]
        )
    finally:
        if previous is None:
            del os.environ["MYPYPATH"]
        else:
            os.environ["MYPYPATH"] = previous
    assert 'Unexpected keyword argument "project_domian"' in out, out
    assert 'Argument "login_timeout" to "OAuth2PKCEAuth" has incompatible type "str"' in out, out
    assert 'Revealed type is "str | None"' in out, out
    assert 'Revealed type is "float"' in out, out


def test_a_misspelt_environment_variable_is_named_in_errors() -> None:
    environ = {
        "STYTCH_CONFIG": "/nonexistent.toml",
        "STYTCH_PROJECT_DOMIAN": "x.example.com",
        "STYTCH_CLIENTID": "c",
        "STYTCH_SECRET": "not ours",  # Stytch's backend SDKs read this one: no close match
    }
    settings = load_settings({}, environ)
    assert settings.unknown_env == {
        "STYTCH_CLIENTID": "STYTCH_CLIENT_ID",
        "STYTCH_PROJECT_DOMIAN": "STYTCH_PROJECT_DOMAIN",
        "STYTCH_SECRET": None,
    }
    with pytest.raises(ConfigurationError) as missing:
        settings.require("client_id")
    assert "STYTCH_CLIENTID is set: did you mean STYTCH_CLIENT_ID?" in str(missing.value)
    with pytest.raises(ConfigurationError) as no_provider:
        storage_key(load_settings({"client_id": "c"}, environ))
    assert "STYTCH_PROJECT_DOMIAN is set: did you mean STYTCH_PROJECT_DOMAIN?" in str(
        no_provider.value
    )
    assert "STYTCH_SECRET" not in str(no_provider.value)


def test_scopes_of_the_wrong_type_are_refused_in_words() -> None:
    """An int for scopes was refused with Python's "'int' object is not iterable"."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"scopes": 5}, {"STYTCH_CONFIG": "/nonexistent.toml"})
    assert str(caught.value) == (
        "scopes from argument is invalid: expected a space-separated string or a list of scope "
        "names."
    )


def test_a_misspelt_profile_key_names_the_closest(config: Path) -> None:
    config.write_text('[profiles.default]\nclient_id = "x"\nscope = "openid"\n')
    with pytest.raises(ConfigurationError, match=r"did you mean 'scopes'\?"):
        load_settings({}, {"STYTCH_CONFIG": str(config)})


def test_an_explicit_revocation_endpoint_overrides_the_stytch_preset() -> None:
    environ = {"STYTCH_CONFIG": "/nonexistent.toml"}
    override = "https://revoke.example.com/revoke"
    settings = load_settings(
        {
            "client_id": "c",
            "project_domain": "p.example.com",
            "authorize_url": "https://app.example.com/authorize",
            "revocation_endpoint": override,
        },
        environ,
    )
    assert resolve_endpoints(settings).revocation_endpoint == override
    assert "revocation_endpoint" not in settings.ignored()


@pytest.mark.parametrize(
    ("given", "ignored"),
    [
        ({"project_domain": "p.example.com", "project_id": "project-test-1"}, {"project_id"}),
        (
            {"issuer": "https://id.example.com", "project_domain": "p.example.com"},
            {"project_domain"},
        ),
        (
            {"token_endpoint": "https://t.example.com/t", "project_domain": "p.example.com"},
            {"project_domain"},
        ),
        ({"environment": "live", "project_domain": "p.example.com"}, {"environment"}),
        (
            {
                "authorization_endpoint": "https://a.example.com",
                "authorize_url": "https://b.example.com",
            },
            {"authorize_url"},
        ),
        ({"token_store": "file", "keyring_timeout": 5}, {"keyring_timeout"}),
        (
            {"project_domain": "p.example.com", "client_metadata_url": "https://c.example/m"},
            {"client_metadata_url"},
        ),
        ({"client_metadata_url": "https://c.example/m"}, {"client_metadata_url"}),  # client_id set
        (
            {"project_domain": "p.example.com", "trusted_issuers": "https://login.example.com"},
            {"trusted_issuers"},
        ),
        (
            {"project_domain": "p.example.com", "revocation_endpoint": "https://r.example.com"},
            set(),
        ),
    ],
)
def test_settings_without_effect_are_reported_as_ignored(
    given: dict[str, object], ignored: set[str]
) -> None:
    settings = load_settings({"client_id": "c", **given}, {"STYTCH_CONFIG": "/nonexistent.toml"})
    assert set(settings.ignored()) == ignored


def test_client_metadata_url_is_in_effect_for_zero_configuration_without_a_client_id() -> None:
    settings = load_settings(
        {"client_metadata_url": "https://c.example/m"}, {"STYTCH_CONFIG": "/nonexistent.toml"}
    )
    assert settings.ignored() == {}


def test_an_argument_another_argument_overrides_is_said_not_silently_dropped() -> None:
    """``StytchAuth(project_domain=, project_id=)`` used project_domain and dropped project_id
    without a word; each such argument is now named, with the reason, on ``notify``. A setting
    from the environment that an argument overrides is the ordinary precedence: nothing said."""
    from httpie_stytch_connected.auth import OAuth2PKCEAuth, StytchAuth

    environ = {"STYTCH_CONFIG": "/nonexistent.toml", "STYTCH_PROJECT_ID": "project-test-env"}
    said: list[str] = []
    StytchAuth(
        project_domain="p.example.com",
        project_id="project-test-arg",
        client_id="c",
        authorize_url="https://app.example.com/authorize",
        environ=environ,
        notify=said.append,
    )
    OAuth2PKCEAuth(
        client_id="c",
        issuer="https://login.example.com",
        project_domain="p.example.com",
        client_secret="s",
        client_secret_file="/nonexistent-secret",
        environ=environ,
        notify=said.append,
    )
    assert said == [
        "StytchAuth(project_id=...) has no effect: project_domain wins over the legacy form; "
        "leave it out.",
        "OAuth2PKCEAuth(project_domain=...) has no effect: issuer is set (discovery); leave it "
        "out.",
        "OAuth2PKCEAuth(client_secret_file=...) has no effect: client_secret is set and wins; "
        "leave it out.",
    ]
    said.clear()
    StytchAuth(
        project_domain="p.example.com",
        client_id="c",
        authorize_url="https://app.example.com/authorize",
        environ=environ,
        notify=said.append,
    )
    assert said == []
