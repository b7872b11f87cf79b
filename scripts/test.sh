#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
model="$(bash scripts/setup.sh --for-tests | tail -n 1)"
export SAGE_MODEL="${SAGE_MODEL:-$model}"
export SAGE_REQUIRE_CLIENTS=1
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
