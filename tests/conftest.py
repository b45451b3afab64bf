"""Suite-wide set-up."""

import signal

# A run started in the background by a non-interactive shell inherits SIGINT ignored, and an
# ignored signal stays ignored across exec: the child processes that the Ctrl-C tests interrupt
# would never see it. A handler here is reset to the default in every child instead.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
