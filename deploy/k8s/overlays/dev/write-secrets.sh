#!/bin/sh
# Writes the dev overlay's secret files (secrets/<KEY>, one value each, no newline, git-ignored)
# from the .env `carnet secrets init` wrote, plus the dev broker's user and password, which
# belong to whoever runs that broker: RABBITMQ_USER and RABBITMQ_PASSWORD in the environment.
# Usage: RABBITMQ_USER=... RABBITMQ_PASSWORD=... deploy/k8s/overlays/dev/write-secrets.sh .env
set -eu
env_file=${1:-.env}
out=$(dirname "$0")/secrets
: "${RABBITMQ_USER:?set RABBITMQ_USER: the dev broker's user}"
: "${RABBITMQ_PASSWORD:?set RABBITMQ_PASSWORD: the dev broker's password}"
umask 077
mkdir -p "$out"

write() {
    printf '%s' "$2" > "$out/$1"
}

while IFS= read -r line || [ -n "$line" ]; do
    case $line in '' | '#'*) continue ;; esac
    key=${line%%=*}
    case $key in '' | *[!A-Z0-9_]*)
        echo "write-secrets.sh: $env_file: a line is not NAME=value" >&2
        exit 2 ;;
    esac
    write "$key" "${line#*=}"
done < "$env_file"
write POSTGRES_USER "${POSTGRES_USER:-postgres}"
write RABBITMQ_USER "$RABBITMQ_USER"
write RABBITMQ_PASSWORD "$RABBITMQ_PASSWORD"
echo "wrote $(ls "$out" | wc -l) files to $out" >&2
