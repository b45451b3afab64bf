"""A secret kept in the config file is used only while that file is the person's alone
(settings/profiles.py), as ``ssh`` treats a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from httpie_stytch_connected.errors import ConfigurationError
from httpie_stytch_connected.settings.config import load_settings

PROFILE = """
[profiles.ci]
issuer = "https://auth.example.com"
client_id = "machine-1"
{name} = "s3cr3t-value"

[profiles.plain]
issuer = "https://auth.example.com"
client_id = "public-1"
"""


@pytest.mark.parametrize("name", ["client_secret", "access_token"])
def test_a_secret_in_a_config_file_others_can_read_is_refused(tmp_path: Path, name: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(PROFILE.format(name=name))
    environ = {"STYTCH_CONFIG": str(config)}
    for mode in (0o644, 0o640, 0o604):
        config.chmod(mode)
        with pytest.raises(ConfigurationError) as caught:
            load_settings({}, environ, profile="ci")
        said = str(caught.value)
        assert name in said and f"chmod 600 {config}" in said and f"{mode:04o}" in said
        assert "s3cr3t-value" not in said
        # a profile without a secret in the same file is the person's business
        assert load_settings({}, environ, profile="plain").client_id == "public-1"
    config.chmod(0o600)
    assert load_settings({}, environ, profile="ci").values[name] == "s3cr3t-value"
