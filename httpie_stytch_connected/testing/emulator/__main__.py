"""``python -m httpie_stytch_connected.testing.emulator``: run an emulator in the foreground."""

from . import _main

raise SystemExit(_main())
