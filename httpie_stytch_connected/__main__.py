"""``python -m httpie_stytch_connected``: the ``stytch-connected`` command."""

from .cli import main

raise SystemExit(main())
