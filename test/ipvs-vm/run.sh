#!/usr/bin/env bash
# IPVS mode tests with real packets. The kernels of our machines and CI have no IP_VS,
# so they run in a qemu VM booting Debian's stock kernel (vm/boot.sh; built from Debian
# packages and cached under .cache/ipvs-vm); on a host that has IP_VS (/proc/net/ip_vs)
# they run directly.
#
#   test/ipvs-vm/run.sh [FILTER]     run the tests whose name contains FILTER (default: all)
#   IPVS_VM_BENCH=1 test/ipvs-vm/run.sh bench    also the 1,000-Service sync benchmark
#
# The tests are bundled with esbuild into one file (loading the sources and
# node_modules over 9p in the emulated guest takes ~20 s per process).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
OUT="$ROOT/.cache/ipvs-vm/tests"
FILTER=${1:-}
t0=$(date +%s)

mkdir -p "$OUT"
esbuild test/ipvs-vm/main.ts --bundle --platform=node --format=esm --target=node24 --log-level=warning \
  --outfile="$OUT/main.mjs" \
  --banner:js="import { createRequire as __kprRequire } from 'node:module'; const require = __kprRequire(import.meta.url);"
# The traffic agent runs as its own process next to the bundle (Node strips its types).
cp lab/agent/agent.ts lab/agent/main.ts "$OUT/"

LOG="$OUT/console.log"
if [ -e /proc/net/ip_vs ]; then
  echo "host has IP_VS: running the tests directly" >&2
  rc=0; IPVS_VM_BENCH=${IPVS_VM_BENCH:-} node "$OUT/main.mjs" "$FILTER" | tee "$LOG" || rc=$?
else
  export IPVS_VM_TIMEOUT=${IPVS_VM_TIMEOUT:-1200}
  rc=0
  bash test/ipvs-vm/vm/boot.sh --share "$OUT:ro" --cwd "$OUT" -- \
    "IPVS_VM_BENCH='${IPVS_VM_BENCH:-}' node $OUT/main.mjs '$FILTER'" | tee "$LOG" || rc=$?
fi
echo "ipvs-vm tests: exit $rc, $(( $(date +%s) - t0 )) s in all" >&2
# A VM that died early leaves no closing line: that is a failure too.
grep -Eq '^[0-9]+ passed, 0 failed$' "$LOG" || exit 1
exit "$rc"
