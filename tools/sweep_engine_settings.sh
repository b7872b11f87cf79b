#!/usr/bin/env bash
# What each llama.cpp setting buys on this machine: load time, memory added by the load, prefill
# and decode speed of the default model (or $SAGE_MODEL) through `sage generate`, median of 3 runs
# per setting. $SETTINGS (lines) replaces the list of settings.
# Usage: bash tools/sweep_engine_settings.sh [path/to/sage]
set -euo pipefail
sage="${1:-./target/release/sage}"
prompt="The warehouse robot starts its morning patrol at six. It checks the loading dock, the narrow corridor between the shelves, and the charging station near the north door. Each sensor reading is compared with what the robot expected to see."
default_settings="--threads 2
--threads 1
--threads 2 --kv q8_0
--threads 2 --kv f32
--threads 2 --flash-attn on
--threads 2 --flash-attn off
--threads 2 --batch 128
--threads 2 --load mmap
--threads 2 --load read
--threads 2 --mlock"
printf '%-30s %8s %12s %12s %12s\n' setting "load s" "resident MiB" "prefill t/s" "decode t/s"
while IFS= read -r setting; do
  [ -z "$setting" ] && continue
  rows=()
  for _ in 1 2 3; do
    # shellcheck disable=SC2086
    out=$("$sage" generate --greedy --max-tokens 64 --json --prompt "$prompt" $setting 2>/dev/null)
    rows+=("$(echo "$out" | python3 -c 'import json,sys; t=json.load(sys.stdin)["timings"]; print(t["load_s"], t["resident_bytes"]/1048576, t["prefill_tok_s"], t["decode_tok_s"])')")
  done
  median() { printf '%s\n' "${rows[@]}" | awk -v c="$1" '{print $c}' | sort -g | sed -n 2p; }
  printf '%-30s %8.3f %12.0f %12.1f %12.1f\n' "$setting" "$(median 1)" "$(median 2)" "$(median 3)" "$(median 4)"
done <<< "${SETTINGS:-$default_settings}"
