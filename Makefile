# The two commands of the README. Everything they need is installed by the scripts themselves.
.PHONY: dev test lint

dev:
	scripts/dev.sh

test:
	scripts/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
