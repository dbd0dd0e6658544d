#!/usr/bin/env bash
# `npm run sweep`: say what will be installed and where the results go, install what a sweep needs
# (infra/setup.sh: no torch), then run the full default sweep with local services and workers.
# Arguments are passed to `kneuron sweep start` (e.g. --store s3, --concepts bear,clock --samples 1).
set -euo pipefail
cd "$(dirname "$0")/.."

store="the local store ${KNEURON_STORE_DIR:-.state/store}/"
[ "${KNEURON_STORE:-local}" = s3 ] && store="the dev SeaweedFS bucket (S3)"
prev=""
for arg in "$@"; do
  case "$prev $arg" in
    "--store s3" | *" --store=s3") store="the dev SeaweedFS bucket (S3)" ;;
    "--store local" | *" --store=local") store="the local store ${KNEURON_STORE_DIR:-.state/store}/" ;;
  esac
  prev=$arg
done

echo "== npm run sweep =="
todo=$(bash infra/setup.sh --plan)
if [ "$todo" = "nothing to install" ]; then
  echo "install:  nothing, all in place"
else
  echo "install:  what this clone lacks (no torch; a fresh clone: ~490 MB download, about 1-2 min):"
  printf '%s\n' "$todo" | sed 's/^/          - /'
fi
what="the default sweep (every concept of the synthetic set x 3 samples, models/tiny)"
[ $# -gt 0 ] && what="the sweep: the defaults with $*"
echo "then:     the dev services (Temporal + SeaweedFS) unless running, one cpu and one model worker, and"
echo "          $what;"
echo "          its estimated time is printed below before it starts, then progress bars"
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 22 ]; then
  echo "node:     $(node --version) is past its end of life (it works); on the current LTS:"
  echo "          PATH=\"\$(bash infra/node.sh):\$PATH\" npm run sweep"
fi
echo "results:  $store; the results directory and the report's index.html"
echo "          are printed at the end (\`npm run kneuron -- report <sweepId> --out DIR\` copies the report)"
echo

bash infra/setup.sh
exec node_modules/.bin/tsx cli/main.ts sweep start --dev --workers --watch "$@"
