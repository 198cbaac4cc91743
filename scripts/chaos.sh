#!/usr/bin/env bash
# `make chaos`: imports, orders and feature changes at once against a moto of its own, with a
# share of DynamoDB calls failing; then the invariants, as one line (tests/chaos.rs).
# CHAOS_SECONDS (default 600), CHAOS_FAULT_RATE (0.02), IMPORT_WORKER_CONCURRENCY (4).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
source scripts/moto.sh 0
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
export TABLE_NAME="chaos-$$" IMPORT_BUCKET="chaos-$$" IMPORT_QUEUE_NAME="chaos-$$"
# Warnings only: the run's own line is the report, not each retried request.
RUST_LOG=${RUST_LOG:-error} cargo run --quiet --locked -p integration-tests --bin chaos
