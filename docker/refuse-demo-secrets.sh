#!/bin/sh
# Run first by every service of docker-compose.yml that holds a secret (refuse-demo-secrets.sh COMMAND ARG…):
# refuses to start when a secret is still a demo value of .env.example, in the service's environment or on its
# command line, unless SFSIM_DEMO_SECRETS=true (DEMO_SECRETS=true in .env: a demo on this computer); then runs
# COMMAND. The values are named, never printed. POSIX sh: the same script runs in every image, and in the tests.
set -eu
demo_values="change-me-mqtt change-me-influx change-me-to-a-long-random-token change-me-grafana"

if [ "${SFSIM_DEMO_SECRETS:-false}" = true ]; then
  echo "sfsim: DEMO_SECRETS=true: starting with the demo secrets of .env.example (a demo on this computer only)" >&2
  exec "$@"
fi
found=""
for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p'); do
  eval "value=\${$name-}"
  for demo in $demo_values; do
    if [ "$value" = "$demo" ]; then
      found="$found${found:+, }$name"
    fi
  done
done
for arg in "$@"; do
  for demo in $demo_values; do
    case "$arg" in
      *"$demo"*) found="$found${found:+, }the command line" ;;
    esac
  done
done
if [ -n "$found" ]; then
  echo "sfsim: refusing to start with the demo secrets of .env.example ($found): set secrets of your own in .env," \
    "or DEMO_SECRETS=true for a demo on this computer only" >&2
  exit 78  # EX_CONFIG
fi
exec "$@"
