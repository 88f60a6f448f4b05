#!/bin/sh
# Run once by the influxdb image after its initial setup (/docker-entrypoint-initdb.d): map the
# InfluxQL database of the same name (retention policy autogen) to the bucket, so that Grafana's
# InfluxQL datasource and the collector's read-back find the data (docs/dashboards.md).
set -eu
bucket_id=$(influx bucket list --org "$DOCKER_INFLUXDB_INIT_ORG" --name "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f1)
influx v1 dbrp create --org "$DOCKER_INFLUXDB_INIT_ORG" --bucket-id "$bucket_id" \
  --db "$DOCKER_INFLUXDB_INIT_BUCKET" --rp autogen --default
