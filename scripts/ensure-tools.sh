#!/usr/bin/env bash
# Tools the suite checks the deployment files with, installed when missing and possible:
# promtool (Debian's prometheus package) for `promtool test rules` and `check config`.
# Never fails `make test`: without it the tests that need it are skipped with this reason.
set -uo pipefail

say() { echo "ensure-tools: $*" >&2; }

if command -v promtool >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
  say "promtool is missing and cannot be installed here (needs apt-get as root): the alert-rule tests are skipped"
  exit 0
fi
say "installing promtool (Debian's prometheus package)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1; } \
  || say "could not install prometheus with apt-get: the alert-rule tests are skipped"
exit 0
