#!/usr/bin/env bash
# The local lab: an API server, a node namespace running kpr proxy, pods and Services.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
npm run --silent build
exec dist/bin/kpr lab "$@"
