#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the review UI's browser test.
# Installs it with apt-get when it is missing and we are root; never downloads Playwright's
# own browsers. Exits non-zero when Chromium is missing and cannot be installed, so `make test`
# fails loudly instead of the browser test being skipped.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-chromium: $CHROMIUM is missing; run as root: apt-get install -y chromium" >&2
  exit 1
fi
echo "ensure-chromium: installing chromium with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium
test -x "$CHROMIUM"
"$CHROMIUM" --version >&2
