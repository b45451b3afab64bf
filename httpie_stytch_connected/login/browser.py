"""Opening the sign-in page in the person's browser without letting it write to our stdout.

:mod:`webbrowser` is used so ``BROWSER`` is honoured, but its command-line controllers
(``GenericBrowser``/``BackgroundBrowser``: ``BROWSER=...``, ``xdg-open``, ``www-browser``) start
the browser with our stdout inherited, and for HTTPie stdout is the response body. Those we start
ourselves with stdio on /dev/null; any other controller (macOS, Windows, the Chrome family,
which already redirect) is called as usual.

Another user must not read the authorization URL (its state, PKCE challenge and port): with it
she can finish the person's sign-in with her own account. A browser that is a command (``BROWSER``,
``xdg-open``, ``firefox``, the Chrome family: every controller that runs a program with the URL
as an argument) would show it in the process list to every local user. So on POSIX such a
browser is handed instead a ``file://`` page, 0600 in a fresh 0700 directory of the temporary
directory (:func:`tempfile.mkdtemp`), that forwards to the URL; only its path is in the process
list. The choice and its cost: a browser confined away from the host's temporary directory (a
snap or flatpak one) cannot open the page, and then the URL printed on the terminal is the way
in. Pages older than an hour are removed at the next sign-in. macOS's and Windows' default
controllers do not put the URL on a command line and are called as usual.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import shutil
import subprocess
import tempfile
import time
import webbrowser
from pathlib import Path

#: Prefix of the private directories that hold forwarding pages.
_PAGE_PREFIX = "stytch-sign-in-"
#: Seconds after which a forwarding page is stale (its state long spent): removed.
_PAGE_LIFETIME = 3600.0


def open_browser(url: str) -> bool:
    """Open ``url``; True if a browser was started and did not report failure."""
    return launch_browser(url) is None


def launch_browser(url: str) -> str | None:
    """Open ``url``; None if a browser was started, else what went wrong, as a clause for a
    message ("the browser command 'firefox' exited with status 1")."""
    try:
        controller = webbrowser.get()
    except webbrowser.Error:
        return "no browser was found (set BROWSER to the command that opens one)"
    if _is_command(controller):
        url = forwarding_page(url) or url
    if isinstance(controller, webbrowser.GenericBrowser):
        return _run_quietly(controller, url)
    try:
        opened = controller.open(url, new=1)
    except Exception as exc:  # a broken controller must not break the login: the URL is printed
        return f"the browser failed to open ({type(exc).__name__})"
    return None if opened else "the browser did not open"


def _is_command(controller: webbrowser.BaseBrowser) -> bool:
    """A controller that runs a program with the URL on its command line (POSIX only: there
    other users can read every process's arguments)."""
    return hasattr(os, "getuid") and isinstance(
        controller, (webbrowser.GenericBrowser, webbrowser.UnixBrowser)
    )


def forwarding_page(url: str) -> str | None:
    """A ``file://`` URL of a page that forwards to ``url``, readable by this user alone (0600
    in a new 0700 directory); None when it cannot be written (then the URL itself is used)."""
    target = html.escape(url, quote=True)
    script = json.dumps(url).replace("<", "\\u003c")  # nothing in it can end the script
    page = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer">'
        f'<meta http-equiv="refresh" content="0; url={target}">'
        "<title>Signing in</title></head><body>"
        f"<script>location.replace({script});</script>"
        f'<p><a href="{target}">Continue to sign in</a></p></body></html>'
    )
    try:
        _drop_stale_pages()
        directory = tempfile.mkdtemp(prefix=_PAGE_PREFIX)  # 0700, a name nobody had
        path = Path(directory) / "sign-in.html"
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600
        )
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
    except OSError:
        return None
    return path.as_uri()


def _drop_stale_pages() -> None:
    """Remove this user's forwarding pages older than :data:`_PAGE_LIFETIME`."""
    root = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for directory in root.glob(f"{_PAGE_PREFIX}*"):
            with contextlib.suppress(OSError):
                info = os.lstat(directory)
                if info.st_uid == os.getuid() and info.st_mtime < time.time() - _PAGE_LIFETIME:
                    shutil.rmtree(directory)


def _run_quietly(controller: webbrowser.GenericBrowser, url: str) -> str | None:
    args = [arg.replace("%s", url) for arg in controller.args]
    if not any("%s" in arg for arg in controller.args):
        args.append(url)
    command = [controller.name, *args]
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
        )
    except OSError as exc:
        return f"the browser command {controller.name!r} could not be started ({exc.strerror})"
    if isinstance(controller, webbrowser.BackgroundBrowser):
        status = process.poll()  # still running is success: it detaches
    else:
        status = process.wait()
    if status in (None, 0):
        return None
    return f"the browser command {controller.name!r} exited with status {status}"
