#!/usr/bin/env bash
# Build llama.cpp's own `llama-server`, the baseline of `sage bench serve --against`, from source
# (never a prebuilt download), with the CPU flags SAGE's engine is built with (native, release).
#
# Source, in order:
#   1. $LLAMA_CPP_SRC: a llama.cpp checkout (for instance the commit the llama-cpp-sys-2 crate in
#      Cargo.lock pins in utilityai/llama-cpp-rs).
#   2. Otherwise (the default) the llama.cpp that llama-cpp-sys-2 vendors, the very library SAGE's
#      engine is built from, found in cargo's registry. The crate ships no server sources: the
#      server's own files (tools/server, tools/ui and the script that provisions the UI) come
#      from the llama.cpp inside llama-cpp-python's source distribution on PyPI (version pinned
#      below, a slightly older llama.cpp), compiled against the vendored library. Kernels,
#      graph and KV cache are then exactly SAGE's; the HTTP server and its scheduler are
#      llama-server's. `LLAMA_SERVER_SOURCE=pypi` builds llama-cpp-python's llama.cpp whole
#      instead (decision 0017).
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
# The llama.cpp inside llama-cpp-python's sdist (PyPI), unpacked once.
pypi_src() {
  local dir="$out/src-llama-cpp-python-$version"
  if [ ! -f "$dir/CMakeLists.txt" ]; then
    echo "llama-server: fetching the llama.cpp source inside llama-cpp-python $version (PyPI)" >&2
    mkdir -p "$out"
    local tmp
    tmp="$(mktemp -d "$out/src.partial.XXXXXX")"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
      --dest "$tmp" "llama-cpp-python==$version" >&2
    tar -xzf "$tmp/llama_cpp_python-$version.tar.gz" -C "$tmp" "llama_cpp_python-$version/vendor/llama.cpp"
    rm -rf "$dir"
    mv "$tmp/llama_cpp_python-$version/vendor/llama.cpp" "$dir"
    rm -rf "$tmp"
  fi
  echo "$dir"
}
extra=()
if [ -n "${LLAMA_CPP_SRC:-}" ]; then
  src="$LLAMA_CPP_SRC"
  tag="$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo checkout)"
elif [ "${LLAMA_SERVER_SOURCE:-vendored}" = "pypi" ]; then
  src="$(pypi_src)"
  tag="llama-cpp-python-$version"
else
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  sys_version="$(awk '/^name = "llama-cpp-sys-2"$/ { getline; gsub(/[" ]/, ""); sub(/^version=/, ""); print; exit }' "$here/Cargo.lock")"
  [ -n "$sys_version" ] || { echo "llama-server: llama-cpp-sys-2 is not in Cargo.lock" >&2; exit 1; }
  registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
  vendored="$(ls -d "$registry"/*/"llama-cpp-sys-2-$sys_version/llama.cpp" 2>/dev/null | head -n1 || true)"
  if [ -z "$vendored" ]; then
    (cd "$here" && cargo fetch --locked >&2)
    vendored="$(ls -d "$registry"/*/"llama-cpp-sys-2-$sys_version/llama.cpp" | head -n1)"
  fi
  tag="llama-cpp-sys-2-$sys_version"
  src="$out/src-$tag"
  if [ ! -f "$src/tools/server/server.cpp" ]; then
    server_src="$(pypi_src)"
    echo "llama-server: the llama.cpp vendored by llama-cpp-sys-2 $sys_version with llama-cpp-python $version's server sources" >&2
    tmp="$(mktemp -d "$out/src.partial.XXXXXX")"
    cp -r "$vendored/." "$tmp/"
    chmod -R u+w "$tmp"
    cp "$server_src"/tools/server/*.cpp "$server_src"/tools/server/*.h "$server_src/tools/server/CMakeLists.txt" "$tmp/tools/server/"
    rm -rf "$tmp/tools/ui"
    cp -r "$server_src/tools/ui" "$tmp/tools/ui"
    mkdir -p "$tmp/scripts"
    cp "$server_src/scripts/ui-assets.cmake" "$tmp/scripts/"
    # Two calls where the server sources and the vendored library differ (neither is on the
    # path a text completion takes): the multimodal projector's memory estimate is a struct
    # in the vendored mtmd, and the vendored common library has no fs_open_ifstream.
    if grep -q "backend_mem_usage" "$tmp/tools/mtmd/mtmd.h"; then
      sed -i 's/mtmd_get_memory_usage(mmproj_path.c_str(), mparams);/mtmd_get_memory_usage(mmproj_path.c_str(), mparams).backend_mem_usage;/' \
        "$tmp/tools/server/server-context.cpp"
    fi
    if ! grep -q "fs_open_ifstream" "$tmp/common/common.h"; then
      sed -i 's/std::ifstream f = fs_open_ifstream(params.mcp_servers_config, std::ios::in);/std::ifstream f(params.mcp_servers_config, std::ios::in);/' \
        "$tmp/tools/server/server-mcp.cpp"
    fi
    # The crate ships the other tools' folders without their sources: build only what the
    # server needs.
    printf 'find_package(Threads REQUIRED)\nllama_add_compile_flags()\nadd_subdirectory(ui)\nadd_subdirectory(server)\nadd_subdirectory(mtmd)\n' \
      > "$tmp/tools/CMakeLists.txt"
    rm -rf "$src"
    mv "$tmp" "$src"
  fi
  extra+=(-DLLAMA_BUILD_APP=OFF)
fi
bin="$out/bin-$tag/llama-server"
if [ ! -x "$bin" ]; then
  build="$out/build-$tag"
  echo "llama-server: building from $src (a few minutes)" >&2
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON "${extra[@]}" >&2
  cmake --build "$build" --target llama-server -j"$(nproc)" >&2
  mkdir -p "$(dirname "$bin")"
  cp "$build/bin/llama-server" "$bin.partial"
  mv "$bin.partial" "$bin"
fi
echo "$bin"
