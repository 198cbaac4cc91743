#!/usr/bin/env bash
# `make test`: cfn-lint over the SAM template, its own moto server on a free port, the unit and
# integration tests against it; moto stops whatever happens.
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
# One closing line over every test binary (unit, integration, doc).
awk '/^test result:/ { p += $4; f += $6 } END { printf "cargo test: %d passed, %d failed\n", p, f }' .local/test.log
