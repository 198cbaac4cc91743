#!/usr/bin/env bash
# The vendor's own Python SDK (licensespring==4.0.0, unmodified) against the License API
# (LICENSE-API.md), served by tests/local_api.rs over plain HTTP on its own tables in the moto
# of the environment (AWS_ENDPOINT_URL; scripts/test.sh starts one). Run by make test.
set -euo pipefail
# Debug builds need deeper thread stacks than 2 MiB (see .cargo/config.toml).
export RUST_MIN_STACK=${RUST_MIN_STACK:-8388608}
cd "$(dirname "$0")/.."
scripts/venv.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
run_dir=.local/sdk
rm -rf "$run_dir" && mkdir -p "$run_dir"
pids=()
trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
cargo build --quiet --locked -p provision -p integration-tests --bins
export TABLE_NAME=licensing-sdk-$$ IMPORT_BUCKET=licensing-sdk-$$ IMPORT_QUEUE_NAME=licensing-sdk-$$
export LICENSE_API_SECRET=licensing-sdk-license-api
target/debug/provision stack >/dev/null
company=$(target/debug/provision company --name sdk)
json() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
export MANAGEMENT_API_KEY=$(json "$company" api_key)
credentials=$(target/debug/provision license-api-key --company "$(json "$company" company_id)")
export LICENSE_API_KEY=$(json "$credentials" api_key) LICENSE_SHARED_KEY=$(json "$credentials" shared_key)
export LICENSE_API_PUBLIC_KEY="$run_dir/license-api-public.pem"
target/debug/provision license-api-public-key |
  python3 -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["public_key_pem"])' >"$LICENSE_API_PUBLIC_KEY"
port=$(free_port)
target/debug/local_api "$port" >"$run_dir/api.log" 2>&1 &
pids+=($!)
export API_DOMAIN="127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://$API_DOMAIN/" && break
  sleep 0.1
done
SDK_TMP="$run_dir" .venv/bin/python -m unittest discover -s tests/sdk -p 'test_*.py' -v 2>&1 | tee "$run_dir/sdk.log"
