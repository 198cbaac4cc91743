#!/usr/bin/env bash
# Sourced: starts moto server on 127.0.0.1:$1 (0 = a free port) in the background, waits until
# it answers, and exports MOTO_PID and the AWS settings that point the SDK at it.
moto_port=${1:-0}
if [ "$moto_port" = 0 ]; then
  moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
mkdir -p .local
MOTO_PORT="$moto_port" .venv/bin/python scripts/moto_server.py 127.0.0.1 "$moto_port" >.local/moto.log 2>&1 &
MOTO_PID=$!
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$moto_port/moto-api/" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$MOTO_PID" 2>/dev/null; then echo "moto server failed to start: see .local/moto.log" >&2; return 1; fi
  sleep 0.1
done
export MOTO_PID
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE AWS_SESSION_TOKEN
