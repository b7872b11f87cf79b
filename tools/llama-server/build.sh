#!/usr/bin/env bash
# Build llama.cpp's own `llama-server`, the baseline of `sage bench serve --against`, from source
# (never a prebuilt download), with the CPU flags SAGE's engine is built with (native, release).
#
# Source, in order:
#   1. $LLAMA_CPP_SRC: a llama.cpp checkout. For an exact comparison, check out the commit that
#      the llama-cpp-sys-2 crate in Cargo.lock vendors (its submodule pin in utilityai/llama-cpp-rs).
#   2. Otherwise the llama.cpp vendored in llama-cpp-python's source distribution on PyPI
#      (version pinned below): PyPI is reachable where GitHub may not be. It is a nearby llama.cpp
#      version, not the same commit; docs/BENCHMARKS.md says which was measured.
#
# Prints the path of the built binary. Usage:
#   bash tools/llama-server/build.sh
#   "$(bash tools/llama-server/build.sh)" -m MODEL.gguf -t 2 -c 8192 -np 8 --port 8081
set -euo pipefail
version="0.3.36"
cache="${SAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sage}"
out="$cache/llama-server"
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v c++ >/dev/null 2>&1 || need+=(g++)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get install -y -qq "${need[@]}" >&2 || { $sudo apt-get update -qq >&2; $sudo apt-get install -y -qq "${need[@]}" >&2; }
fi
if [ -n "${LLAMA_CPP_SRC:-}" ]; then
  src="$LLAMA_CPP_SRC"
  tag="$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo checkout)"
else
  tag="llama-cpp-python-$version"
  src="$out/src-$tag"
  if [ ! -f "$src/CMakeLists.txt" ]; then
    echo "llama-server: fetching the llama.cpp source inside llama-cpp-python $version (PyPI)" >&2
    mkdir -p "$out"
    tmp="$(mktemp -d "$out/src.partial.XXXXXX")"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
      --dest "$tmp" "llama-cpp-python==$version" >&2
    tar -xzf "$tmp/llama_cpp_python-$version.tar.gz" -C "$tmp" "llama_cpp_python-$version/vendor/llama.cpp"
    rm -rf "$src"
    mv "$tmp/llama_cpp_python-$version/vendor/llama.cpp" "$src"
    rm -rf "$tmp"
  fi
fi
bin="$out/bin-$tag/llama-server"
if [ ! -x "$bin" ]; then
  build="$out/build-$tag"
  echo "llama-server: building from $src (a few minutes)" >&2
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON >&2
  cmake --build "$build" --target llama-server -j"$(nproc)" >&2
  mkdir -p "$(dirname "$bin")"
  cp "$build/bin/llama-server" "$bin.partial"
  mv "$bin.partial" "$bin"
fi
echo "$bin"
