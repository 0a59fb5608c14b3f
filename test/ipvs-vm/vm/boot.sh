#!/usr/bin/env bash
# Boots the IPVS test VM and runs one command in it, building the VM first when the cache
# lacks it (build.sh):
#   test/ipvs-vm/vm/boot.sh [--share DIR[:ro]]... [--cwd DIR] -- 'CMD'
# Each DIR is shared over 9p at the same path in the guest. CMD runs with sh in --cwd (default /)
# as root of the guest, whose root network namespace plays the node;
# `node` there is IPVS_VM_NODE. The VM has no network device. The console goes to stdout.
# Exit status: CMD's; 125 when the VM stopped, or was killed after IPVS_VM_TIMEOUT seconds
# (default 600), before CMD ended. Uses KVM when the host CPU offers it, else TCG emulation
# (slow: leave CPU-heavy work such as bundling to the host; the guest's clock then counts
# instructions, see below). IPVS_VM_MEM: guest MiB (1024).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
TIMEOUT=${IPVS_VM_TIMEOUT:-600}
MEM=${IPVS_VM_MEM:-1024}

shares=() cwd=/
while [ $# -gt 0 ]; do
  case "$1" in
    --share) shares+=("$2"); shift 2 ;;
    --cwd) cwd=$2; shift 2 ;;
    --) shift; break ;;
    *) die "unknown option $1 (usage: boot.sh [--share DIR[:ro]]... [--cwd DIR] -- 'CMD')" ;;
  esac
done
[ $# -gt 0 ] || die "no command given (usage: boot.sh [--share DIR[:ro]]... [--cwd DIR] -- 'CMD')"

"$VM/build.sh"

JOB=$(mktemp -d "${TMPDIR:-/tmp}/ipvs-vm-job.XXXXXX")
trap 'rm -rf "$JOB"' EXIT
fsdev=()
add_share() { # TAG DIR ro|rw
  [[ $2 != *,* ]] || die "cannot share $2: qemu takes no comma in a shared path"
  local ro=""; [ "$3" = rw ] || ro=",readonly=on"
  fsdev+=(-fsdev "local,id=$1,path=$2,security_model=none$ro" -device "virtio-9p-pci,fsdev=$1,mount_tag=$1")
}
add_share job "$JOB" rw
add_share node "$(dirname "$NODE")" ro
echo "node /opt/node ro" > "$JOB/shares"
i=0
for s in "${shares[@]}"; do
  mode=rw; [[ $s == *:ro ]] && mode=ro
  dir=$(cd "${s%:ro}" && pwd) || die "cannot share ${s%:ro}: no such folder"
  add_share "share$i" "$dir" "$mode"
  echo "share$i $dir $mode" >> "$JOB/shares"
  i=$((i + 1))
done
echo "$cwd" > "$JOB/cwd"
printf '%s\n' "$*" > "$JOB/cmd"

# Hardware KVM needs VMX or SVM in the CPU flags: a /dev/kvm without them cannot run a stock kernel.
if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
  accel=(-accel kvm -cpu host -smp 2)
else
  # The guest clock counts executed instructions (1 ns each) and real time only while idle:
  # a host busy with other work then slows the guest down instead of making its timeouts
  # (800 ms probes) expire. One CPU: a 2nd emulated one measured slower on a 2-core host.
  accel=(-accel tcg -cpu max -smp 1 -icount shift=0,sleep=on)
fi
kernel=$CACHE/vmlinux; [ -f "$kernel" ] || kernel=$CACHE/vmlinuz
log "booting (${accel[1]}, $MEM MiB, timeout $TIMEOUT s)"
t0=$SECONDS
qemu_rc=0
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config -machine pc "${accel[@]}" -m "$MEM" \
  -kernel "$kernel" -initrd "$CACHE/initrd.img" -append "console=ttyS0 quiet loglevel=3 panic=-1" \
  -display none -serial stdio -no-reboot -device virtio-rng-pci "${fsdev[@]}" </dev/null \
  | sed -u 's/\r$//' || qemu_rc=$?   # the serial console ends lines with CR LF
if [ -f "$JOB/rc" ]; then
  rc=$(cat "$JOB/rc")
  log "VM done in $((SECONDS - t0)) s, exit $rc"
  exit "$rc"
fi
if [ "$qemu_rc" = 124 ]; then
  log "error: VM killed after $TIMEOUT s (IPVS_VM_TIMEOUT) before the command ended"
else
  log "error: VM stopped before the command ended (qemu exit $qemu_rc; see the console above)"
fi
exit 125
