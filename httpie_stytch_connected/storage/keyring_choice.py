"""Which keyring backend holds the tokens, who chose it, and whether it keeps its promise.

``keyring`` picks a backend by itself unless the person names one (``PYTHON_KEYRING_BACKEND``,
or ``default-keyring`` in keyring's config file) or the program sets one
(``keyring.set_keyring``). When it picks by itself and the best it finds stores secrets in a
plaintext file (``keyrings.alt``'s ``PlaintextKeyring``, installed by some distributions and
tools) or is a backend keyring itself ranks below its recommended ones (priority < 1: files
with a fixed or prompted key, and the like), the token set (refresh token included) would land
where anyone who can read the file can use it: refused, with the choices. A backend somebody
named is their opt-in and is used as is. :func:`describe` names the real backend for ``status``.
"""

from __future__ import annotations

import configparser
import functools
import os
import sys
from typing import TYPE_CHECKING

from ..errors import TokenStoreError

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

#: Backends that keep secrets in the operating system's credential store: never judged by
#: their priority, whose check (a D-Bus round trip for the Secret Service) is not free.
_SYSTEM = (
    "keyring.backends.SecretService.",
    "keyring.backends.libsecret.",
    "keyring.backends.kwallet.",
    "keyring.backends.macOS.",
    "keyring.backends.Windows.",
)


def name_of(backend: KeyringBackend) -> str:
    """The backend's import path, as ``PYTHON_KEYRING_BACKEND`` takes it."""
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def writer(backend: KeyringBackend) -> KeyringBackend:
    """The backend that receives writes: a chainer writes to the first backend it chains."""
    chained = getattr(type(backend), "backends", None)
    if name_of(backend) == "keyring.backends.chainer.ChainerBackend" and chained:
        return chained[0]  # type: ignore[no-any-return]
    return backend


def weakness(backend: KeyringBackend) -> str | None:
    """Why ``backend`` does not keep secrets as a system keyring does, or None."""
    target = writer(backend)
    name = name_of(target)
    if any(f"{cls.__module__}.".startswith(_SYSTEM) for cls in type(target).__mro__):
        return None  # a system backend, or one built on it (it stores where that one does)
    scheme = getattr(target, "scheme", None)
    where = getattr(target, "file_path", None)
    place = f" ({where})" if isinstance(where, str) else ""
    if "plaintext" in name.lower() or (isinstance(scheme, str) and "no enc" in scheme.lower()):
        return f"stores them in a plaintext file{place}"
    if name.startswith("keyrings.alt."):  # the package of backends keyring does not recommend
        return f"keyring itself does not recommend (it is one of keyrings.alt's){place}"
    priority = _priority(type(target))
    if priority is not None and priority < 1:
        return f"keyring itself does not recommend (priority {priority:g}){place}"
    return None


@functools.cache
def _priority(cls: type[KeyringBackend]) -> float | None:
    try:
        return float(cls.priority)
    except Exception:  # a backend that cannot tell is judged by its name alone
        return None


def chosen_by(backend: KeyringBackend) -> str | None:
    """Who named ``backend``: a setting, keyring's config file or the program; None when
    keyring picked it by itself."""
    name = name_of(backend)
    if os.environ.get("PYTHON_KEYRING_BACKEND", "").strip() == name:
        return "PYTHON_KEYRING_BACKEND"
    path = _config_path()
    if path is not None and _configured(path) == name:
        return f"keyring's config file {path}"
    from keyring import backend as backends

    try:  # what keyring's own detection picks (its list of backends is computed once)
        detected = max(backends.get_all_keyring(), key=backends.by_priority, default=None)
    except Exception:  # a backend failing its check now: we cannot tell, so nobody chose
        return None
    if detected is None or type(detected) is not type(backend):
        return "the program (keyring.set_keyring)"
    return None


def check(backend: KeyringBackend) -> None:
    """Refuse a weak backend that keyring picked by itself (:class:`TokenStoreError`)."""
    weak = weakness(backend)
    if weak is None or chosen_by(backend) is not None:
        return
    raise TokenStoreError(
        f"Refusing to keep your tokens in {name_of(writer(backend))}, which keyring picked by "
        f"itself and which {weak}; start a system keyring{no_system_keyring()}, name a backend "
        "with PYTHON_KEYRING_BACKEND (or keyring's config file) to use it anyway, or opt in "
        "to the 0600 file store with STYTCH_TOKEN_STORE=file."
    )


def turned_off(backend: KeyringBackend) -> str | None:
    """Why nothing can be kept when a person named keyring's own "no keyring" backend
    (``fail.Keyring``, ``null.Keyring``: how CI images and tools turn keyrings off), or None
    when nobody named it (keyring found nothing and fell back to it by itself).

    A named one is a choice, not a missing desktop: the reasons for an absent system keyring
    (no D-Bus session, no Secret Service) and "name a backend" would send the person hunting
    for something that is not wrong. The setting that did it is named, with the way out.
    """
    chooser = chosen_by(backend)
    if chooser is None or chooser.startswith("the program"):
        return None
    undo = (
        "unset PYTHON_KEYRING_BACKEND or name a system keyring's backend there"
        if chooser == "PYTHON_KEYRING_BACKEND"
        else f"name a system keyring's backend as default-keyring in {chooser}"
    )
    return (
        f"The keyring backend {name_of(backend)}, chosen by {chooser}, keeps nothing (it is "
        "how keyring is turned off), so your tokens cannot be kept; opt in to the 0600 file "
        f"store with STYTCH_TOKEN_STORE=file, or {undo}."
    )


def describe(backend: KeyringBackend) -> str:
    """For ``status`` and ``login``: the real backend, what kind it is, and who chose it."""
    name, weak, chooser = name_of(writer(backend)), weakness(backend), chosen_by(backend)
    chosen = f", chosen by {chooser}" if chooser else ""
    if weak is None:
        return f"system keyring ({name}{chosen})"
    return f"keyring backend {name}, which {weak}{chosen}"


def no_system_keyring(found_none: bool = True) -> str:
    """Why no system keyring is reachable, as a clause, or '' when we cannot tell.

    ``found_none``: keyring found no usable system backend (rather than one failing to start).
    """
    if sys.platform in ("win32", "darwin"):
        return ""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return (
            " (none can be reached: there is no D-Bus session bus, as DBUS_SESSION_BUS_ADDRESS "
            "is not set; sign in to a desktop session, or run under dbus-run-session with "
            "gnome-keyring-daemon started)"
        )
    if found_none:
        return (
            " (no Secret Service answers on the D-Bus session bus: start gnome-keyring or KWallet)"
        )
    return ""


def _config_path() -> os.PathLike[str] | None:
    try:
        from keyring.util import platform_

        return platform_.config_root() / "keyringrc.cfg"  # type: ignore[no-any-return]
    except Exception:
        return None


def _configured(path: os.PathLike[str]) -> str | None:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
        return parser.get("backend", "default-keyring").strip()
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
