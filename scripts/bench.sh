#!/usr/bin/env bash
# `make bench`: benchmarks against a fresh moto (release build). Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
source scripts/moto.sh 0
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
export TABLE_NAME="licensing-bench-$$"
cargo run --release --locked -p bench --bin order_bench -- "${RUNS:-20}"
