#!/usr/bin/env bash
# `make bench`: benchmarks against a fresh moto (release build). Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
source scripts/moto.sh 0
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
export TABLE_NAME="licensing-bench-$$"
export IMPORT_BUCKET="licensing-bench-$$" IMPORT_QUEUE_NAME="licensing-bench-$$"
cargo build --release --locked -p bench -p functions -p provision
target/release/order_bench "${RUNS:-20}"
target/release/api_bench "${API_RUNS:-100}"
# A fresh moto for each big tenant, so no benchmark pays for another's data.
kill "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true
source scripts/moto.sh 0
target/release/import_bench "${IMPORT_ROWS:-100000}"
kill "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true
source scripts/moto.sh 0
target/release/license_bench "${LICENSES:-100000}"
# Cold starts of every release binary (and of the Python equivalent), against a fresh moto.
kill "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true
source scripts/moto.sh 0
export LICENSE_API_SECRET="$TABLE_NAME-license-api"
target/release/provision stack >/dev/null
company=$(target/release/provision company --name bench)
json() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
api_key=$(json "$company" api_key)
# License API credentials, so that check_license's cold start is signed like the SDK's.
credentials=$(target/release/provision license-api-key --company "$(json "$company" company_id)")
export LICENSE_API_KEY=$(json "$credentials" api_key) LICENSE_SHARED_KEY=$(json "$credentials" shared_key)
.venv/bin/python bench/coldstart.py target/release "$api_key"
