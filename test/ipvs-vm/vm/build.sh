#!/usr/bin/env bash
# Builds the IPVS test VM into the cache (IPVS_VM_CACHE, default .cache/ipvs-vm): Debian's
# stock kernel, which ships ip_vs and its schedulers as modules, and an initramfs holding
# busybox, the tools kpr runs (iptables nft and legacy, nft, ipset, conntrack, ipvsadm,
# iproute2), their libraries, the kernel modules the tests need and init.sh as /init.
# Everything comes from the Debian packages of the host's apt sources, so a fresh Debian
# machine needs nothing but its mirrors. Node stays on the host (boot.sh shares its
# folder); only its libraries go in. Also installs the host tools that it and boot.sh use.
# Does nothing more when the cache was built by this recipe. Needs root on a cold build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Host tools as command:package.
HOST_TOOLS="qemu-system-x86_64:qemu-system-x86 xz:xz-utils cpio:cpio depmod:kmod"
# Packages of the guest's userland; apt-get downloads them with their dependencies (libraries).
GUEST_PKGS="busybox-static dash kmod iproute2 iptables nftables ipset conntrack ipvsadm netbase libstdc++6"
# Their binaries that go in; busybox provides the rest (mount, sysctl, poweroff...).
GUEST_BINS="busybox dash kmod ip ss nft ipset conntrack ipvsadm xtables-nft-multi xtables-legacy-multi"
# Kernel modules: the netfilter trees (IPVS and its schedulers, nf_tables, xtables, conntrack,
# NAT, ipset), the links the tests create, virtio and 9p for the shares; plus what they depend
# on. crc32c_generic is only a soft dependency of libcrc32c (conntrack, IPVS).
MODULE_DIRS="net/netfilter net/ipv4/netfilter net/ipv6/netfilter net/bridge"
MODULES="dummy veth bridge br_netfilter virtio_pci virtio_rng 9pnet_virtio 9p crc32c_generic"

apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 "$@"; }
apt_update() {
  log "apt-get update"
  apt_get update >/dev/null || log "apt-get update failed: going on with the package lists there are"
}
need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root"; }

ensure_host_tools() {
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
    || die "needs a Debian host (apt-get, dpkg-deb): the VM is made of Debian packages"
  [ "$(dpkg --print-architecture)" = amd64 ] || die "needs an amd64 host (the guest is Debian amd64)"
  local missing=() t
  for t in $HOST_TOOLS; do command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}"); done
  ((${#missing[@]})) || return 0
  need_root "installing the host tools ${missing[*]}"
  apt_update
  log "installing ${missing[*]}"
  apt_get install -y --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed (see above)"
}

stamp() { # what the cached build depends on
  cat "$VM/common.sh" "$VM/build.sh" "$VM/init.sh" | sha256sum
  echo "node $(basename "$NODE") $("$NODE" --version)"
}

# Fetches the given packages and the guest's with their dependencies into $CACHE/debs (kept
# between builds: only missing or damaged files are downloaded, stale ones removed); prints
# their paths.
fetch_debs() {
  local pkgs uris files=() missing=() uri f size hash
  pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
           --no-replaces --no-enhances $GUEST_PKGS | grep -v '^[ <]' | sort -u)
  uris=$(apt-get download --print-uris "$@" $pkgs) || die "apt cannot download $* $GUEST_PKGS"
  mkdir -p "$CACHE/debs"
  while read -r uri f size hash; do
    files+=("$CACHE/debs/$f")
    deb_ok "$CACHE/debs/$f" "$hash" || missing+=("${f%%_*}")
  done <<<"$uris"
  if ((${#missing[@]})); then
    log "downloading ${#missing[@]} packages"
    (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "${missing[@]}" >/dev/null) \
      || die "apt-get download of ${missing[*]} failed (are the Debian mirrors reachable?)"
  fi
  for f in "$CACHE"/debs/*.deb; do [[ " ${files[*]} " == *" $f "* ]] || rm -f "$f"; done
  printf '%s\n' "${files[@]}"
}

deb_ok() { # FILE ALGO:DIGEST, as apt prints it
  local algo=${2%%:*}
  [ -f "$1" ] && [ "$("${algo,,}sum" < "$1" | cut -d' ' -f1)" = "${2#*:}" ]
}

# qemu boots an uncompressed ELF kernel through its PVH entry point, sparing the seconds the
# kernel takes to decompress itself under emulation. Writes nothing when that fails.
extract_vmlinux() { # BZIMAGE OUT
  local off
  off=$(LC_ALL=C grep -aboF "$(printf '\3757zXZ')" "$1" | head -n1 | cut -d: -f1) || true
  [ -n "$off" ] || return 0
  tail -c +$((off + 1)) "$1" | xz -dc --single-stream > "$2" 2>/dev/null || true
  [ "$(head -c4 "$2" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || rm -f "$2"
}

first_file() { # prints the first of the paths that is a file (not a link), or fails
  local f; for f; do [ -f "$f" ] && [ ! -L "$f" ] && { echo "$f"; return; }; done; return 1
}

# Copies the shared libraries that the given ELF files load into the guest, all from $STAGE.
copy_libs() {
  local f out lib
  for f in "$@"; do
    out=$("$LDSO" --library-path "$LIBPATH" --list "$f") || die "cannot list the libraries of $f"
    for lib in $(awk '$2 == "=>" {print $3}' <<<"$out"); do
      [[ $lib == "$STAGE"/* ]] || die "$f needs $lib, which no guest package has (add it to GUEST_PKGS)"
      [ -e "$ROOT/usr/lib/x86_64-linux-gnu/${lib##*/}" ] || cp -L "$lib" "$ROOT/usr/lib/x86_64-linux-gnu/"
    done
  done
}

build() {
  local t0=$SECONDS W="$CACHE/work"
  need_root "a cold build of the VM (apt-get update, download)"
  apt_update
  rm -rf "$W"; mkdir -p "$W/stage" "$W/kernel"
  trap "rm -rf '$W'" EXIT
  local kpkg debs d
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$kpkg" ] || die "apt knows no linux-image-amd64 (are Debian's main sources in /etc/apt/sources.list*?)"
  debs=$(fetch_debs "$kpkg")
  log "unpacking $(wc -l <<<"$debs") packages"
  for d in $debs; do
    if [[ ${d##*/} == "${kpkg}_"* ]]; then dpkg-deb -x "$d" "$W/kernel"; else dpkg-deb -x "$d" "$W/stage"; fi
  done

  STAGE=$W/stage ROOT=$W/root
  LIBPATH="$STAGE/lib/x86_64-linux-gnu:$STAGE/usr/lib/x86_64-linux-gnu"
  LDSO=$(first_file "$STAGE"/{usr/,}lib/x86_64-linux-gnu/ld-linux-x86-64.so.2) || die "libc6 brought no dynamic loader"

  # A merged-/usr root where every program sits in /usr/bin.
  mkdir -p "$ROOT"/{usr/bin,usr/lib/x86_64-linux-gnu,usr/local/bin,usr/share,etc,proc,sys,dev,run,tmp,root}
  ln -s usr/bin "$ROOT/bin"; ln -s usr/bin "$ROOT/sbin"; ln -s bin "$ROOT/usr/sbin"
  ln -s usr/lib "$ROOT/lib"; ln -s usr/lib64 "$ROOT/lib64"; mkdir "$ROOT/usr/lib64"
  ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$ROOT/usr/lib64/"   # the ELF interpreter's path
  chmod 1777 "$ROOT/tmp"
  local b p
  for b in $GUEST_BINS; do
    p=$(first_file "$STAGE"/{usr/,}{s,}bin/"$b") || die "no guest package has the program $b"
    cp "$p" "$ROOT/usr/bin/"
  done
  for b in $("$ROOT/usr/bin/busybox" --list); do [ -e "$ROOT/usr/bin/$b" ] || ln -s busybox "$ROOT/usr/bin/$b"; done
  # /bin/sh is dash: busybox's sh would run its own applets (a reduced ip) before PATH.
  ln -sf dash "$ROOT/usr/bin/sh"
  for b in iptables ip6tables; do
    for p in "" -save -restore; do
      ln -sf xtables-nft-multi "$ROOT/usr/bin/$b$p"
      ln -sf xtables-nft-multi "$ROOT/usr/bin/$b-nft$p"
      ln -sf xtables-legacy-multi "$ROOT/usr/bin/$b-legacy$p"
    done
  done
  for b in modprobe insmod rmmod lsmod depmod modinfo; do ln -sf kmod "$ROOT/usr/bin/$b"; done
  ln -s "/opt/node/$(basename "$NODE")" "$ROOT/usr/bin/node"
  cp -a "$STAGE/usr/lib/x86_64-linux-gnu/xtables" "$ROOT/usr/lib/x86_64-linux-gnu/"
  for p in etc/iproute2 usr/share/iproute2 usr/lib/iproute2 etc/protocols etc/services etc/ethertypes; do
    [ -e "$STAGE/$p" ] && cp -a "$STAGE/$p" "$ROOT/$p"
  done
  cp -L "$LDSO" "$ROOT/usr/lib/x86_64-linux-gnu/"
  copy_libs $(for b in $GUEST_BINS; do [ "$b" = busybox ] || echo "$ROOT/usr/bin/$b"; done) \
            "$ROOT"/usr/lib/x86_64-linux-gnu/xtables/*.so "$NODE"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$ROOT/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$ROOT/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files\nservices: files\nprotocols: files\n' > "$ROOT/etc/nsswitch.conf"
  printf '127.0.0.1 localhost ipvs-vm\n::1 localhost\n' > "$ROOT/etc/hosts"

  # The kernel and its modules: depmod indexes the package's tree, modprobe resolves what the
  # wanted modules need, and depmod indexes the copy in the guest.
  local KB="$W/kernel" KV
  [ -d "$KB/lib/modules" ] || { mkdir -p "$KB/lib"; mv "$KB/usr/lib/modules" "$KB/lib/"; }
  KV=$(ls "$KB/lib/modules" | head -n1)
  depmod -b "$KB" "$KV"
  local KM="$KB/lib/modules/$KV" names mods m
  names=$(cd "$KM/kernel" && find $MODULE_DIRS -name '*.ko*' | sed 's|.*/||; s|\.ko.*||')
  mods=$(modprobe -C /dev/null -d "$KB" -S "$KV" --show-depends -a $names $MODULES | awk '$1 == "insmod" {print $2}' | sort -u) \
    || die "kernel $KV lacks modules of: $MODULES"
  for m in $mods; do
    mkdir -p "$ROOT/usr/lib/modules/$KV/$(dirname "${m#"$KM"/}")"
    cp "$m" "$ROOT/usr/lib/modules/$KV/${m#"$KM"/}"
  done
  cp "$KM"/modules.{order,builtin,builtin.modinfo} "$ROOT/usr/lib/modules/$KV/"
  depmod -b "$ROOT" "$KV"
  install -m 0755 "$VM/init.sh" "$ROOT/init"

  (cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$W/initrd.img"   # uncompressed: boots fastest under TCG
  cp "$KB/boot/vmlinuz-$KV" "$W/vmlinuz"
  extract_vmlinux "$W/vmlinuz" "$W/vmlinux"
  rm -f "$CACHE/vmlinux"
  mv "$W"/{vmlinuz,initrd.img} "$CACHE/"
  [ ! -f "$W/vmlinux" ] || mv "$W/vmlinux" "$CACHE/"
  stamp > "$CACHE/stamp"
  log "built kernel $KV ($(wc -w <<<"$mods") modules) and a $(du -h "$CACHE/initrd.img" | cut -f1) initramfs in $((SECONDS - t0)) s"
}

ensure_host_tools
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9   # one build at a time per cache
if [ -f "$CACHE/initrd.img" ] && [ "$(cat "$CACHE/stamp" 2>/dev/null)" = "$(stamp)" ]; then
  log "cache hit: $CACHE"
else
  build
fi
