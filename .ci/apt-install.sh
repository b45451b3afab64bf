#!/usr/bin/env bash
# apt-get install PACKAGE... quietly: apt and debconf chatter goes to a log that is printed only
# when the install fails. Run as root (CI and the developers' machines are).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "apt-install: apt-get install $* failed (its output is above)" >&2
    exit 1
fi
