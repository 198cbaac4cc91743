#!/usr/bin/env bash
# Creates .venv with the pinned Python tools (moto server, cargo-lambda, cfn-lint) unless it
# already has exactly these pins. Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.requirements
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && cmp -s requirements-dev.txt "$stamp"; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install --quiet -r requirements-dev.txt
cp requirements-dev.txt "$stamp"
