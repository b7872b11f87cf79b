#!/usr/bin/env bash
# The main job: set up what is missing, build SAGE, and run the SAGE loop over the bundled demo
# scenario. Extra arguments go to `sage run` (try --verbose or --json).
set -euo pipefail
cd "$(dirname "$0")/.."
model="$(bash scripts/setup.sh | tail -n 1)"
export SAGE_MODEL="${SAGE_MODEL:-$model}"
cargo build --release --locked -p sage-cli --bin sage
exec ./target/release/sage run "$@"
