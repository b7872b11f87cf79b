#!/usr/bin/env bash
# GPU figures for the seed's model shape: llama.cpp (the engine SAGE embeds) built with CUDA on
# the device, a Nemotron-Nano-4B-shaped GGUF written by `sage models synth`.
#
# Prepare (on the build machine; artifacts/ is ignored by git):
#   mkdir -p artifacts/device && cp tools/device/nemotron_gpu.sh artifacts/device/run.sh
#   strip -o artifacts/device/sage target/release/sage
#   (cd ~/.cargo/registry/src/*/llama-cpp-sys-2-0.1.161 && tar czf - --exclude=llama.cpp/models \
#      --exclude=llama.cpp/docs --exclude=llama.cpp/gguf-py --exclude=llama.cpp/examples llama.cpp) \
#      > artifacts/device/llama.cpp.tgz
# Run with the device tool: command `bash artifacts/device/run.sh`, carry ["artifacts/device"].
# First attempt (2026-11-26) failed: missing tool folders in the vendored llama.cpp (fixed below)
# and a `wait` that also waited for a `tee` process substitution (removed). Expect the CUDA build
# of two targets to take several minutes on 16 cores; keep the timeout near the 600 s limit.
set -uo pipefail
REPO="$(pwd)"
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
date
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
lscpu | grep -E "Model name|^CPU\(s\)"
export PATH="$PATH:/usr/local/cuda/bin"
for t in nvcc cmake gcc g++ make; do printf '%s: ' "$t"; command -v "$t" || echo missing; done
nvcc --version | tail -2
cd /tmp
tar xzf "$REPO/artifacts/device/llama.cpp.tgz"
# The llama.cpp copy inside llama-cpp-sys-2 lacks some tool folders its CMakeLists names.
for d in tools/export-lora tools/fit-params tools/results app; do
  mkdir -p "llama.cpp/$d"; [ -f "llama.cpp/$d/CMakeLists.txt" ] || : > "llama.cpp/$d/CMakeLists.txt"
done
( start=$(date +%s); "$REPO/artifacts/device/sage" models synth --shape nemotron-nano-4b --out /tmp/n-f16.gguf > "$OUT/synth.log" 2>&1; echo "synth rc=$? in $(( $(date +%s) - start )) s" >> "$OUT/synth.log" ) &
synth_pid=$!
start=$(date +%s)
cmake -S llama.cpp -B build -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF \
  -DCMAKE_BUILD_TYPE=Release > "$OUT/cmake.log" 2>&1 || { echo "cmake failed"; tail -30 "$OUT/cmake.log"; }
cmake --build build -j 16 --target llama-bench llama-quantize > "$OUT/build.log" 2>&1 || { echo "build failed"; tail -30 "$OUT/build.log"; }
echo "build took $(( $(date +%s) - start )) s"
wait "$synth_pid"
cat "$OUT/synth.log"
ls -la /tmp/*.gguf build/bin/ 2>/dev/null | head -20
start=$(date +%s)
build/bin/llama-quantize /tmp/n-f16.gguf /tmp/n-q4km.gguf Q4_K_M 16 > "$OUT/quant.log" 2>&1; echo "quantize rc=$? in $(( $(date +%s) - start )) s"
tail -3 "$OUT/quant.log"
for m in /tmp/n-q4km.gguf /tmp/n-f16.gguf; do
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -v build/bin/llama-bench -m "$m" -ngl 99 -p 512 -n 128 -r 3 -o md 2> "$OUT/time-$(basename $m).log"
    grep -E "Maximum resident|Elapsed" "$OUT/time-$(basename $m).log"
  else
    build/bin/llama-bench -m "$m" -ngl 99 -p 512 -n 128 -r 3 -o md
  fi
done
nvidia-smi --query-gpu=memory.used --format=csv
date
