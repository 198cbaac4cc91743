#!/usr/bin/env bash
# `make test`: its own moto server on a free port, the unit and integration tests against it,
# cfn-lint over the SAM template; moto stops whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
source scripts/moto.sh 0
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
export TABLE_NAME="licensing-test-$$" IMPORT_BUCKET="licensing-test-$$" IMPORT_QUEUE_NAME="licensing-test-$$"
cargo test --workspace --locked "$@"
.venv/bin/cfn-lint infra/template.yaml
echo "cfn-lint: infra/template.yaml passed"
