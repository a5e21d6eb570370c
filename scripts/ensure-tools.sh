#!/usr/bin/env bash
# Tools the suite checks deployment choices with, installed when missing and possible:
# promtool (Debian's prometheus package) for `promtool test rules` and `check config`;
# pgbouncer, which the PgBouncer-compatible mode is tested behind (docs/deploy.md); iptables,
# which partitions a private RabbitMQ cluster node (scripts/chaos/cluster.py).
# Never fails `make test`: without a tool the tests that need it are skipped with this reason.
set -uo pipefail

say() { echo "ensure-tools: $*" >&2; }

# command -> Debian package, and what is skipped without it
declare -A PACKAGE=([promtool]=prometheus [pgbouncer]=pgbouncer [iptables]=iptables)
declare -A NEEDED_BY=([promtool]="the alert-rule tests" [pgbouncer]="the PgBouncer test"
                      [iptables]="the cluster partition steps")

for tool in promtool pgbouncer iptables; do
  command -v "$tool" >/dev/null && continue
  if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
    say "$tool is missing and cannot be installed here (needs apt-get as root): ${NEEDED_BY[$tool]} are skipped"
    continue
  fi
  say "installing $tool (Debian's ${PACKAGE[$tool]} package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${PACKAGE[$tool]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "${PACKAGE[$tool]}" >/dev/null 2>&1; } \
    || say "could not install ${PACKAGE[$tool]} with apt-get: ${NEEDED_BY[$tool]} are skipped"
done
exit 0
