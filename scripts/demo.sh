#!/usr/bin/env bash
# The main job: set up what is missing, build SAGE, run the SAGE loop over the bundled demo
# scenario, then a generation with the embedded default model. Extra arguments go to `sage run`
# alone (try --verbose or --json).
set -euo pipefail
cd "$(dirname "$0")/.."
model="$(bash scripts/setup.sh | tail -n 1)"
export SAGE_MODEL="${SAGE_MODEL:-$model}"
cargo build --release --locked -p sage-cli --bin sage
if [ $# -gt 0 ]; then
  exec ./target/release/sage run "$@"
fi
./target/release/sage run
echo
echo "== the language engine on the embedded default model (a base Gemma 3 270M, greedy) =="
./target/release/sage generate --greedy --max-tokens 48 \
  --prompt "Night report of the warehouse robot: after the collision in the corridor, the robot"
