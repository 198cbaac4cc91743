#!/usr/bin/env bash
# `make test`: cfn-lint over the SAM template, the OpenAPI document against it, its own moto
# server on a free port, the unit and integration tests against it, a short chaos run, the
# vendor's Python SDK against the License API, and a short contract fuzz;
# moto stops whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
source scripts/moto.sh 0
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
export TABLE_NAME="licensing-test-$$" IMPORT_BUCKET="licensing-test-$$" IMPORT_QUEUE_NAME="licensing-test-$$"
.venv/bin/cfn-lint infra/template.yaml
echo "cfn-lint: infra/template.yaml passed"
.venv/bin/python scripts/check_openapi.py
mkdir -p .local
cargo test --workspace --locked "$@" 2>&1 | tee .local/test.log
# A short chaos run (make chaos runs 10 minutes): concurrent imports, orders and faults, then
# the invariants, on tables of its own in the same moto.
if ! TABLE_NAME="chaos-$$" IMPORT_BUCKET="chaos-$$" IMPORT_QUEUE_NAME="chaos-$$" CHAOS_SECONDS=20 RUST_LOG=error \
  cargo run --quiet --locked -p integration-tests --bin chaos >.local/chaos.log 2>&1; then
  cat .local/chaos.log
  echo "chaos: an invariant failed" >&2
  exit 1
fi
grep '^chaos ops=' .local/chaos.log
# The License API driven by the vendor's unmodified Python SDK (licensespring==4.0.0).
if ! scripts/sdk_test.sh >.local/sdk.log 2>&1; then
  cat .local/sdk.log
  echo "sdk: the vendor's SDK failed against the License API" >&2
  exit 1
fi
grep -E '^Ran [0-9]+ tests' .local/sdk.log | sed 's/^/sdk: /'
# A short contract fuzz (schemathesis, infra/openapi.yaml) of the handlers over HTTP.
if ! API=local MAX_EXAMPLES=5 MAX_TIME=60 scripts/fuzz.sh >.local/fuzz.log 2>&1; then
  cat .local/fuzz.log
  echo "fuzz: failed (the report is in .local/fuzz-local/)" >&2
  exit 1
fi
grep -E "^Test cases:" -A1 .local/fuzz.log | tail -n 1 | sed 's/^ */fuzz: /'
# One closing line over every test binary (unit, integration, doc).
awk '/^test result:/ { p += $4; f += $6 } END { printf "cargo test: %d passed, %d failed\n", p, f }' .local/test.log
