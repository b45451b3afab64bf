"""Secret files (``client_secret_file``, ``private_key_file``, ``access_token_file``): what a
refusal says to do, for the file setting it is (settings/credentials.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from httpie_stytch_connected.errors import ConfigurationError
from httpie_stytch_connected.settings.credentials import read_secret_file


def test_a_linked_secret_file_is_refused_with_advice_for_a_file(tmp_path: Path) -> None:
    """A mounted secret (a Kubernetes volume) is often a link: the way out is a private copy,
    never "a directory" for a setting that names a file."""
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-value")
    secret.chmod(0o600)
    link = tmp_path / "link"
    link.symlink_to(secret)
    with pytest.raises(ConfigurationError) as caught:
        read_secret_file(str(link), "client_secret_file")
    said = str(caught.value)
    assert "symbolic link" in said and "copy it to a file of your own with mode 0600" in said
    assert "directory" not in said and "s3cr3t-value" not in said
    assert read_secret_file(str(secret), "client_secret_file") == "s3cr3t-value"
