#!/usr/bin/env bash
# Start PostgreSQL and RabbitMQ when they are down, then wait until both answer.
# Order of preference: already running > local Debian services > docker compose.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_HOST=${PGHOST:-127.0.0.1}
PG_PORT=${PGPORT:-5432}
AMQP_HOST=${AMQP_HOST:-127.0.0.1}
AMQP_PORT=${AMQP_PORT:-5672}
MGMT_PORT=${RABBITMQ_MANAGEMENT_PORT:-15672}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
say() { echo "ensure-infra: $*" >&2; }

wait_port() {  # name host port seconds
  local i
  for ((i = 0; i < $4; i++)); do
    port_open "$2" "$3" && return 0
    sleep 1
  done
  say "$1 did not answer on $2:$3 within $4 s."
  return 1
}

docker_ok() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

compose_env() {  # docker-compose.yml requires its secrets (.env): generate them once
  if [ ! -f .env ] && [ -x .venv/bin/carnet ]; then
    say "writing .env with fresh secrets (carnet secrets init)"
    .venv/bin/carnet secrets init
  fi
}

start_postgres() {
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    say "starting the local PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  elif docker_ok; then
    say "starting PostgreSQL with docker compose"
    compose_env
    docker compose up -d postgres
  else
    say "PostgreSQL is not running on $PG_HOST:$PG_PORT and cannot be started here: start PostgreSQL (trust auth, user postgres) or a Docker engine, then run this again."
    exit 1
  fi
}

start_rabbitmq() {
  if command -v rabbitmq-server >/dev/null; then
    say "starting the local RabbitMQ node"
    rabbitmq-server -detached || true
  elif docker_ok; then
    say "starting RabbitMQ with docker compose"
    compose_env
    docker compose up -d rabbitmq
  else
    say "RabbitMQ is not running on $AMQP_HOST:$AMQP_PORT and cannot be started here: start RabbitMQ (guest/guest, management plugin) or a Docker engine, then run this again."
    exit 1
  fi
}

port_open "$PG_HOST" "$PG_PORT" || start_postgres
wait_port PostgreSQL "$PG_HOST" "$PG_PORT" 60

port_open "$AMQP_HOST" "$AMQP_PORT" || start_rabbitmq
wait_port RabbitMQ "$AMQP_HOST" "$AMQP_PORT" 90

# The management API creates per-run vhosts in tests and applies deploy/ policies.
if ! port_open "$AMQP_HOST" "$MGMT_PORT"; then
  if command -v rabbitmq-plugins >/dev/null; then
    say "enabling the RabbitMQ management plugin"
    rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null
  fi
  wait_port "RabbitMQ management" "$AMQP_HOST" "$MGMT_PORT" 60
fi

# A port can open before the server accepts work; ask each for real.
for ((i = 0; i < 30; i++)); do
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break
  else
    break
  fi
  sleep 1
done
say "PostgreSQL $PG_HOST:$PG_PORT and RabbitMQ $AMQP_HOST:$AMQP_PORT (management :$MGMT_PORT) are up."
