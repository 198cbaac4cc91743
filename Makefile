# The two commands of the README. Everything they need is installed by the scripts themselves.
.PHONY: dev test lint bench bench-lists fuzz chaos

dev:
	scripts/dev.sh

test:
	scripts/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

# On demand (release build, a fresh moto): numbers for the README and issue notes.
bench:
	scripts/bench.sh

# On demand: GET /api/v1/licenses/ per access path on a small and a large tenant (issue 12).
bench-lists:
	scripts/bench_lists.sh

# On demand: schemathesis against make dev's API (infra/openapi.yaml); a short run is in make test.
fuzz:
	scripts/fuzz.sh

# On demand: 10 minutes of concurrent imports, orders and faults, then the invariants (a
# 30-second run is part of make test).
chaos:
	scripts/chaos.sh
