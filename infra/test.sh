#!/usr/bin/env bash
# The README's test command (`npm test`): setup, then the TypeScript suites, then the Python suites.
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/setup.sh --full
npx vitest run "$@"
bash infra/pytest.sh
