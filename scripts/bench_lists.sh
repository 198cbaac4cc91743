#!/usr/bin/env bash
# `make bench-lists`: list_scale (bench/list_scale.rs) on a fresh moto of its own, release
# build. BENCH_LICENSES_SMALL and BENCH_LICENSES_LARGE set the two tenants (10,000 and 100,000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
source scripts/moto.sh 0
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
export TABLE_NAME="list-scale-$$" IMPORT_BUCKET="list-scale-$$" IMPORT_QUEUE_NAME="list-scale-$$"
cargo build --release --locked -p bench --bin list_scale
target/release/list_scale
