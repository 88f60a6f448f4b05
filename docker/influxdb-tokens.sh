#!/bin/sh
# Run once InfluxDB is up (docker-compose.yml, service influxdb-tokens): a token for the collectors (read and
# write the bucket) and one for Grafana (read it), each written to a volume that only its service mounts, so
# neither holds the admin token, nor the other's. A token InfluxDB still knows is kept: restarts change nothing.
set -eu
export INFLUX_HOST=http://influxdb:8086 INFLUX_TOKEN="$INFLUXDB_ADMIN_TOKEN" INFLUX_ORG="$INFLUXDB_ORG"
bucket=$(influx bucket list --name "$INFLUXDB_BUCKET" --hide-headers | cut -f1)
known=$(influx auth list --json)

token() {  # token FILE DESCRIPTION PERMISSION-FLAGS…
  file=$1
  description=$2
  shift 2
  if [ -s "$file" ] && printf '%s' "$known" | grep -qF "\"token\": \"$(cat "$file")\""; then
    echo "influxdb-tokens: $description: keeping its token"
    return
  fi
  new=$(influx auth create --description "$description" "$@" --json | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
  if [ -z "$new" ]; then
    echo "influxdb-tokens: $description: influx auth create gave no token" >&2
    exit 1
  fi
  umask 022  # readable by the service's own user (sfsim, grafana) in the one container that mounts it
  printf '%s' "$new" > "$file.new"
  mv "$file.new" "$file"
  echo "influxdb-tokens: $description: new token"
}

token /tokens/collector/influxdb-token "sfsim collector" --read-bucket "$bucket" --write-bucket "$bucket"
token /tokens/grafana/influxdb-token "sfsim grafana" --read-bucket "$bucket"
