#!/usr/bin/env bash
# `make fuzz`: schemathesis against the whole API as `make dev` runs it (its own moto and
# ports), every operation of infra/openapi.yaml: no 5xx, and every response as the document
# says. MAX_EXAMPLES per operation (default 50), MAX_TIME seconds in all (default 300).
# make test runs a short one (MAX_EXAMPLES=5). Bodies are UTF-8: `cargo lambda watch` answers
# 500 itself to a body that is not (API Gateway would base64-encode it; our handlers read
# either).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
run_dir=.local/fuzz
rm -rf "$run_dir" && mkdir -p "$run_dir"
RUN_DIR="$run_dir" MOTO_PORT=$(free_port) API_PORT=$(free_port) scripts/dev.sh >"$run_dir/dev.log" 2>&1 &
dev_pid=$!
trap 'kill "$dev_pid" 2>/dev/null || true; wait "$dev_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 1200); do
  [ -f "$run_dir/dev.env" ] && break
  kill -0 "$dev_pid" 2>/dev/null || { cat "$run_dir/dev.log"; echo "fuzz: the API did not start" >&2; exit 1; }
  sleep 0.5
done
# shellcheck disable=SC1091
source "$run_dir/dev.env"
.venv/bin/schemathesis run infra/openapi.yaml \
  --url "$API_URL" \
  --header "Authorization: Api-Key $API_KEY" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${MAX_EXAMPLES:-50}" \
  --max-time "${MAX_TIME:-300}" \
  --workers 1 \
  --generation-codec utf-8 \
  --seed "${SEED:-1}" \
  --report junit --report-dir "$run_dir"
