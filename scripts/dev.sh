#!/usr/bin/env bash
# `make dev`: the whole API on this machine. Installs what is missing (.venv), starts moto,
# provisions the stack and a demo company, builds every function, serves the API with
# `cargo lambda watch` at http://127.0.0.1:$API_PORT/api/v1/..., bridges the import queue to the
# worker, and writes .local/dev.env once every route answers. Ctrl-C stops all of it.
set -euo pipefail
# Debug builds need deeper thread stacks than 2 MiB (see .cargo/config.toml).
export RUST_MIN_STACK=${RUST_MIN_STACK:-8388608}
cd "$(dirname "$0")/.."
API_PORT=${API_PORT:-9000}
MOTO_PORT=${MOTO_PORT:-4566}
# Import worker invocations at once, as Lambda runs instances side by side: the bridge runs as
# many, and cargo lambda watch (which otherwise runs one process per function, one invocation at
# a time) may start as many processes per function, on demand.
export IMPORT_WORKER_CONCURRENCY=${IMPORT_WORKER_CONCURRENCY:-4}
# Another instance (make test's fuzz run) keeps its settings and logs apart.
RUN_DIR=${RUN_DIR:-.local}

say() { printf 'make dev: %s\n' "$*"; }

scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"
pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source scripts/moto.sh "$MOTO_PORT"
pids+=("$MOTO_PID")
say "moto server on $AWS_ENDPOINT_URL"

say "building every function (first time: a few minutes)"
cargo build --workspace --bins --locked

export TABLE_NAME=licensing-dev IMPORT_BUCKET=licensing-dev-imports IMPORT_QUEUE_NAME=licensing-dev-imports
export LICENSE_API_SECRET=licensing-dev-license-api
stack=$(target/debug/provision stack)
IMPORT_QUEUE_URL=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["import_queue_url"])' "$stack")
export IMPORT_QUEUE_URL
company=$(target/debug/provision company --name "Demo company")
API_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["api_key"])' "$company")
COMPANY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["company_id"])' "$company")
# The License API (LICENSE-API.md §0): the demo company's credentials and the public key the
# SDK's signature verifier holds.
license_api=$(target/debug/provision license-api-key --company "$COMPANY_ID")
LICENSE_API_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["api_key"])' "$license_api")
LICENSE_SHARED_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["shared_key"])' "$license_api")
mkdir -p "$RUN_DIR"
# An absolute path: the variable must work from any directory.
LICENSE_API_PUBLIC_KEY="$(cd "$RUN_DIR" && pwd)/license-api-public.pem"
target/debug/provision license-api-public-key |
  python3 -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["public_key_pem"])' >"$LICENSE_API_PUBLIC_KEY"
say "stack and demo company ready"

mkdir -p "$RUN_DIR"
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$API_PORT" \
  --concurrency "$IMPORT_WORKER_CONCURRENCY" >"$RUN_DIR/watch.log" 2>&1 &
pids+=($!)
API_URL="http://127.0.0.1:$API_PORT"

.venv/bin/python scripts/sqs_bridge.py "$IMPORT_QUEUE_URL" "$API_URL/2015-03-31/functions/import_worker/invocations" >"$RUN_DIR/bridge.log" 2>&1 &
pids+=($!)

# Each function starts on its first request; make one request to each the walkthrough uses now
# so no user waits on a start (the others start on their first request, in seconds). Any answer
# of the function itself (not a 5xx of the emulator) will do: the License API's are 401s here.
warm=(
  api/v1/products/ api/v1/product-features/ api/v1/product-custom-fields/ api/v1/license-templates/
  api/v1/customer-accounts/ api/v1/customers/ api/v1/orders/ api/v1/orders/1/ api/v1/orders/create_order/
  api/v1/orders/generate_license/ api/v1/licenses/ api/v1/licenses/1/ api/v1/licenses/1/update_features/
  api/v1/licenses/import_from_csv/ api/v1/licenses/import_from_csv/upload_url/ api/v1/licenses-import-results/
  api/v1/licenses-import-results/1/ api/v1/devices/ api/v1/no-such-thing/
  api/v4/activate_license api/v4/check_license api/v4/deactivate_license api/v4/product_details
)
for path in "${warm[@]}"; do
  for _ in $(seq 1 600); do
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Api-Key $API_KEY" "$API_URL/$path" || true)
    case "$status" in 2??|4??) break ;; esac
    sleep 0.5
  done
  case "$status" in 2??|4??) ;; *) say "GET /$path answered $status: see $RUN_DIR/watch.log"; exit 1 ;; esac
done

cat >"$RUN_DIR/dev.env.tmp" <<ENV
API_URL=$API_URL
API_KEY=$API_KEY
COMPANY_ID=$COMPANY_ID
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=$AWS_REGION
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
TABLE_NAME=$TABLE_NAME
LICENSE_API_SECRET=$LICENSE_API_SECRET
IMPORT_BUCKET=$IMPORT_BUCKET
IMPORT_QUEUE_URL=$IMPORT_QUEUE_URL
LICENSE_API_KEY=$LICENSE_API_KEY
LICENSE_SHARED_KEY=$LICENSE_SHARED_KEY
LICENSE_API_PUBLIC_KEY=$LICENSE_API_PUBLIC_KEY
ENV
mv "$RUN_DIR/dev.env.tmp" "$RUN_DIR/dev.env"  # whole, for whoever waits for it
say "ready: $API_URL/api/v1/ (settings in $RUN_DIR/dev.env; logs in $RUN_DIR/*.log; Ctrl-C stops)"
say "try: curl -H 'Authorization: Api-Key $API_KEY' $API_URL/api/v1/products/"
wait
