#!/usr/bin/env bash
# Install what the real Secret Service tests need on a fresh Debian 12 machine (run as root):
# gnome-keyring (the daemon) and dbus-daemon (dbus-run-session, a private session bus). The
# tests start both inside the test run, with a private HOME; nothing here starts anything.
# Idempotent, quiet, fails loudly.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v gnome-keyring-daemon >/dev/null || ! command -v dbus-run-session >/dev/null; then
    echo "secret-service-setup: installing gnome-keyring and dbus-daemon (apt)" >&2
    bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" gnome-keyring dbus-daemon
fi
for tool in gnome-keyring-daemon dbus-run-session dbus-daemon; do
    command -v "$tool" >/dev/null || {
        echo "secret-service-setup: $tool is not installed" >&2
        exit 1
    }
done
echo "secret-service-setup: ok" >&2
