#!/usr/bin/env bash
# The console's browser tests: builds the closedloop binary (debug, the
# profile CI's test run has already compiled), installs playwright-core from
# the lockfile, and runs the tests in Debian's Chromium (/usr/bin/chromium).
# No browser is ever downloaded. Screenshots go to tests/browser/screenshots/.
#
#   tests/browser/run.sh                 # build, then test
#   CLOSEDLOOP_BIN=path tests/browser/run.sh   # test a binary built elsewhere
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "no Chromium at ${CHROMIUM_PATH:-/usr/bin/chromium}: apt-get install chromium fonts-wqy-microhei" >&2
  exit 1
fi

if [ -z "${CLOSEDLOOP_BIN:-}" ]; then
  (cd "$root" && cargo build -p closedloop-cli)
  CLOSEDLOOP_BIN="$root/target/debug/closedloop"
fi
export CLOSEDLOOP_BIN

cd "$here"
# playwright-core only; it never fetches a browser on install.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
exec node --test --test-concurrency=1 --test-timeout=180000 console.test.mjs
