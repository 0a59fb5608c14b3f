#!/bin/sh
# PID 1 of the IPVS test VM (built by build.sh, booted by boot.sh). Mounts the kernel's
# file systems, loads the modules kube-proxy's IPVS mode loads, mounts the host folders
# that the job share lists, runs the job's command and powers off. The command's exit
# status goes back to the host as the file rc of the job share.
export PATH=/usr/local/bin:/usr/bin HOME=/root LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
for d in /dev/shm /run /tmp; do mount -t tmpfs tmpfs "$d"; done
mkdir -p /run/netns
ln -s /proc/self/fd /dev/fd
hostname ipvs-vm
ip link set lo up

# One modprobe call: each process start costs ~0.2 s under emulation.
modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack dummy veth \
  virtio_pci virtio_rng 9pnet_virtio 9p || echo "[init] modprobe failed"

share() { # TAG DIR ro|rw
  mkdir -p "$2"
  case "$3" in
    ro) opts=ro,cache=loose ;;   # the host does not change these during a run
    *) opts=cache=mmap ;;
  esac
  mount -t 9p -o "trans=virtio,version=9p2000.L,msize=512000,$opts" "$1" "$2"
}

JOB=/run/job
if ! share job "$JOB" rw; then
  echo "[init] no job share: boot this VM with boot.sh"
  poweroff -f
fi
while read -r tag dir mode; do
  share "$tag" "$dir" "$mode" || echo "[init] cannot mount 9p share $tag on $dir"
done < "$JOB/shares"

echo "[init] userspace up after $(cut -d' ' -f1 /proc/uptime) s"
(cd "$(cat "$JOB/cwd")" && exec sh "$JOB/cmd"); rc=$?
echo "$rc" > "$JOB/rc"
sync
umount "$JOB"
poweroff -f
