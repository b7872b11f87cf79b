#!/usr/bin/env bash
# What each llama.cpp setting buys on this machine: decode and prefill speed of the default model
# (or $SAGE_MODEL) through `sage generate`, median of 3 runs per setting.
# Usage: bash tools/sweep_engine_settings.sh [path/to/sage]
set -euo pipefail
sage="${1:-./target/release/sage}"
prompt="The warehouse robot starts its morning patrol at six. It checks the loading dock, the narrow corridor between the shelves, and the charging station near the north door. Each sensor reading is compared with what the robot expected to see."
printf '%-34s %12s %12s\n' setting "prefill t/s" "decode t/s"
for setting in "--threads 2" "--threads 1" "--threads 2 --kv q8_0" "--threads 2 --kv f32" \
               "--threads 2 --flash-attn on" "--threads 2 --flash-attn off" "--threads 2 --batch 128" \
               "--threads 2 --no-mmap" "--threads 2 --mlock"; do
  p=(); d=()
  for _ in 1 2 3; do
    # shellcheck disable=SC2086
    out=$("$sage" generate --greedy --max-tokens 64 --json --prompt "$prompt" $setting 2>/dev/null)
    p+=("$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["timings"]["prefill_tok_s"])')")
    d+=("$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["timings"]["decode_tok_s"])')")
  done
  pm=$(printf '%s\n' "${p[@]}" | sort -g | sed -n 2p)
  dm=$(printf '%s\n' "${d[@]}" | sort -g | sed -n 2p)
  printf '%-34s %12.1f %12.1f\n' "$setting" "$pm" "$dm"
done
