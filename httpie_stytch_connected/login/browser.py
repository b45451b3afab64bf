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
    return launch_browser(url) is None


def launch_browser(url: str) -> str | None:
    """Open ``url``; None if a browser was started, else what went wrong, as a clause for a
    message ("the browser command 'firefox' exited with status 1")."""
    try:
        controller = webbrowser.get()
    except webbrowser.Error:
        return "no browser was found (set BROWSER to the command that opens one)"
    if isinstance(controller, webbrowser.GenericBrowser):
        return _run_quietly(controller, url)
    try:
        opened = controller.open(url, new=1)
    except Exception as exc:  # a broken controller must not break the login: the URL is printed
        return f"the browser failed to open ({type(exc).__name__})"
    return None if opened else "the browser did not open"


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
