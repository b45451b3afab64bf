"""The pytest plugin loads in every pytest run of any project that has this package installed,
so importing it must not pull in the emulator's heavy dependencies (PyJWT, cryptography)."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import sys\n"
    "import httpie_stytch_connected.testing.pytest_plugin\n"
    "loaded = {name.split('.')[0] for name in sys.modules}\n"
    "print(' '.join(sorted(loaded & {'jwt', 'cryptography'})))\n"
)


def test_importing_the_pytest_plugin_loads_neither_jwt_nor_cryptography() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_fixtures_still_bring_up_the_emulator(stytch_env: object) -> None:
    from httpie_stytch_connected.testing import StytchEmulator

    assert isinstance(stytch_env, StytchEmulator)
