#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of the workspace, including the ones
# marked #[ignore = "needs ..."] (headless Chromium, the openai client), which setup.sh installs.
# --no-fail-fast: one failing test target does not hide the others.
set -euo pipefail
cd "$(dirname "$0")/.."
model="$(bash scripts/setup.sh --for-tests | tail -n 1)"
export SAGE_MODEL="${SAGE_MODEL:-$model}"
# One build, no later edit to speed up: incremental caches would only take disk (1.6 GB).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace --no-fail-fast -- --include-ignored
