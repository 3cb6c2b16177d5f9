#!/usr/bin/env bash
# The browser test (tests/browser/) drives Debian's Chromium at /usr/bin/chromium: Playwright
# never downloads a browser of its own (no host but the package registries is reachable).
# Neither the project's machines nor CI's have it until something installs it: this does,
# once, from Debian's packages (we run as root there).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "/usr/bin/chromium is missing: apt-get install chromium (as root)" >&2
  exit 1
fi
echo "== installing Debian's chromium (once per machine)"
export DEBIAN_FRONTEND=noninteractive
# The package lists may be absent or stale on a fresh machine.
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x /usr/bin/chromium
# Debian's launcher script trips over its own /dev/shm size check here ("[: unexpected
# operator") and only skips a flag: keep that out of the log.
/usr/bin/chromium --version 2>/dev/null
