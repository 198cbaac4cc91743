#!/usr/bin/env bash
# `make bench`: benchmarks against a fresh moto (release build). Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
source scripts/moto.sh 0
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
export TABLE_NAME="licensing-bench-$$"
cargo build --release --locked -p bench
target/release/order_bench "${RUNS:-20}"
# A fresh moto for each big tenant, so no benchmark pays for another's data.
kill "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true
source scripts/moto.sh 0
target/release/import_bench "${IMPORT_ROWS:-100000}"
kill "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true
source scripts/moto.sh 0
target/release/license_bench "${LICENSES:-100000}"
