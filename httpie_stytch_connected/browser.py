"""Opening the sign-in page in the person's browser without letting it write to our stdout.

:mod:`webbrowser` is used so ``BROWSER`` is honoured, but its command-line controllers
(``GenericBrowser``/``BackgroundBrowser``: ``BROWSER=...``, ``xdg-open``, ``www-browser``) start
the browser with our stdout inherited, and for HTTPie stdout is the response body. Those we start
ourselves with stdio on /dev/null; any other controller (macOS, Windows, the Chrome family,
which already redirect) is called as usual.
"""

from __future__ import annotations

import subprocess
import webbrowser


def open_browser(url: str) -> bool:
    """Open ``url``; True if a browser was started and did not report failure."""
    try:
        controller = webbrowser.get()
    except webbrowser.Error:
        return False
    if isinstance(controller, webbrowser.GenericBrowser):
        return _run_quietly(controller, url)
    try:
        return bool(controller.open(url, new=1))
    except Exception:  # a broken controller must not break the login: the URL is printed
        return False


def _run_quietly(controller: webbrowser.GenericBrowser, url: str) -> bool:
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
    except OSError:
        return False
    if isinstance(controller, webbrowser.BackgroundBrowser):
        return process.poll() in (None, 0)
    return process.wait() == 0
