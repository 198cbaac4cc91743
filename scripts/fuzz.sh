#!/usr/bin/env bash
# `make fuzz`: schemathesis over every operation of infra/openapi.yaml: no 5xx, and every
# status, content type and body as the document says. MAX_EXAMPLES per operation (default
# 50), MAX_TIME seconds in all (default 300), MODE positive|negative|all (default all).
#
# API=dev (make fuzz): the API as `make dev` serves it (cargo lambda watch), on its own moto
# and ports. API=local (make test, a short run): the same handlers behind tests/local_api.rs,
# one process, no emulator. `cargo lambda watch` itself answers 500 to a body that is not
# UTF-8, before any function runs (API Gateway base64-encodes such bodies, and the handlers
# answer 400: tests/api/http.rs), so against it negative bodies are left out (MODE=positive).
set -euo pipefail
# Debug builds need deeper thread stacks than 2 MiB (see .cargo/config.toml).
export RUST_MIN_STACK=${RUST_MIN_STACK:-8388608}
cd "$(dirname "$0")/.."
scripts/venv.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
run_dir=.local/fuzz-${API:=dev}
rm -rf "$run_dir" && mkdir -p "$run_dir"
pids=()
trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT

if [ "$API" = dev ]; then
  mode=${MODE:-positive}
  RUN_DIR="$run_dir" MOTO_PORT=$(free_port) API_PORT=$(free_port) scripts/dev.sh >"$run_dir/dev.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 1200); do
    [ -f "$run_dir/dev.env" ] && break
    kill -0 "${pids[0]}" 2>/dev/null || { cat "$run_dir/dev.log"; echo "fuzz: the API did not start" >&2; exit 1; }
    sleep 0.5
  done
  # shellcheck disable=SC1091
  source "$run_dir/dev.env"
else
  mode=${MODE:-all}
  cargo build --locked -p provision -p integration-tests --bins
  source scripts/moto.sh 0
  pids+=("$MOTO_PID")
  export TABLE_NAME=licensing-fuzz IMPORT_BUCKET=licensing-fuzz IMPORT_QUEUE_NAME=licensing-fuzz
  target/debug/provision stack >/dev/null
  API_KEY=$(target/debug/provision company --name fuzz | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
  port=$(free_port)
  target/debug/local_api "$port" >"$run_dir/api.log" 2>&1 &
  pids+=($!)
  API_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$API_URL/api/v1/" && break
    sleep 0.1
  done
fi

.venv/bin/schemathesis run infra/openapi.yaml \
  --url "$API_URL" \
  --header "Authorization: Api-Key $API_KEY" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,fuzzing,stateful \
  --mode "$mode" \
  --max-examples "${MAX_EXAMPLES:-50}" \
  --max-time "${MAX_TIME:-300}" \
  --workers 1 \
  --request-timeout 30 \
  --seed "${SEED:-1}" \
  --report junit --report-dir "$run_dir"
