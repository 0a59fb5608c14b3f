#!/usr/bin/env bash
# `npm run image`: builds kpr's container image with podman, from Debian packages only
# (no base image is pulled). Three steps:
#   1. the Debian packages of the kernel tools are extracted with mmdebstrap from the
#      mirror apt uses (cached in .cache/image/debian-<key>, keyed on the list and the
#      apt sources; remove it to pick up package updates);
#   2. a minimal tree keeps only the tools' binaries, the shared libraries they load
#      (resolved with the extracted glibc's own loader), iptables' extensions, busybox
#      as the small shell install-cni needs (with only the applets it and the
#      iptables wrapper use), and kpr with netlink.node beside it: no package manager,
#      no docs;
#   3. `FROM scratch` + that tree (tools and kpr in separate layers, so a new kpr
#      only changes the small second layer), tagged localhost/kpr:<package.json version>
#      and saved as an OCI archive under dist/ (`podman load`, `ctr import`).
# --no-build uses the dist/bin/kpr already built (the tests, which must not rebuild
# dist/ under other running tests); the default runs `npm run build` first.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

build=1
for arg in "$@"; do
  case $arg in
    --no-build) build=0 ;;
    *) echo "image: unknown argument $arg (known: --no-build)" >&2; exit 2 ;;
  esac
done

start=$(date +%s)
version=$(node -p 'require("./package.json").version')
ref=localhost/kpr:$version
archive=dist/kpr-image-$version.oci.tar
cache=$root/.cache/image

((build)) && npm run --silent build
[[ -x dist/bin/kpr && -f dist/bin/netlink.node && -f dist/bin/kpr-sys.node ]] || { echo "image: dist/bin/kpr is missing: run npm run build" >&2; exit 1; }
command -v mmdebstrap >/dev/null && command -v podman >/dev/null || { echo "image: needs mmdebstrap and podman (scripts/setup.sh installs them)" >&2; exit 1; }

# --- 1. Debian packages, extracted (cached) -------------------------------------------
. /etc/os-release
suite=$VERSION_CODENAME
packages=iptables,nftables,ipset,ipvsadm,conntrack,nfacct,iproute2,busybox-static,libstdc++6,netbase
sources=(/etc/apt/sources.list.d/*.sources)
[[ -e ${sources[0]} ]] || sources=(/etc/apt/sources.list)
key=$( { echo "$suite $packages"; cat "${sources[@]}"; } | sha256sum | cut -c1-12)
debian=$cache/debian-$key
if [[ ! -d $debian ]]; then
  echo "image: extracting Debian $suite packages ($packages) into $debian" >&2
  rm -rf "$debian.tmp"
  mkdir -p "$debian.tmp"
  mmdebstrap --quiet --variant=extract --mode=root --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$suite" "$debian.tmp" "${sources[@]}"
  mv "$debian.tmp" "$debian"
fi

# --- 2. the minimal tree ----------------------------------------------------------------
tools=$cache/tools
rm -rf "$tools" "$cache/kpr"
mkdir -p "$tools" "$cache/kpr/usr/local/bin"

# Copies one path of the extracted tree (relative to its root) with the links leading to it.
copy() {
  local p=${1#/}
  [[ -e $tools/$p || -L $tools/$p ]] && return 0
  [[ -e $debian/$p || -L $debian/$p ]] || { echo "image: $p is not in the Debian packages" >&2; exit 1; }
  mkdir -p "$tools/$(dirname "$p")"
  cp -a "$debian/$p" "$tools/$p"
  if [[ -L $debian/$p ]]; then
    local target
    target=$(readlink "$debian/$p")
    [[ $target == /* ]] || target=$(realpath -ms "/$(dirname "$p")/$target")
    copy "$target"
  fi
}
# Copies an ELF file and every shared library it loads, as the extracted loader resolves them.
libdirs=$debian/lib/x86_64-linux-gnu:$debian/usr/lib/x86_64-linux-gnu
loader=$debian/lib64/ld-linux-x86-64.so.2
[[ -L $loader ]] && loader=$debian$(readlink "$loader")
copy_libs() { # ELF file (a path on this machine) -> the libraries it loads, copied
  local libs lib
  libs=$("$loader" --library-path "$libdirs" --list "$1" | sed -nE 's/.* => (\/[^ ]+) .*/\1/p')
  [[ -n $libs ]] || { echo "image: found no libraries that $1 loads" >&2; exit 1; }
  for lib in $libs; do
    [[ $lib == "$debian"/* ]] || { echo "image: $1 needs $lib, not in the Debian packages" >&2; exit 1; }
    copy "${lib#"$debian"}"
  done
}
copy_elf() { # path in the extracted tree -> copied, with its libraries
  copy "$1"
  copy_libs "$debian/${1#/}"
}

copy lib64/ld-linux-x86-64.so.2
for f in usr/sbin/xtables-nft-multi usr/sbin/xtables-legacy-multi usr/sbin/nft usr/sbin/ipset usr/sbin/conntrack usr/sbin/nfacct \
         sbin/ipvsadm sbin/ip sbin/bridge; do
  copy_elf "$f"
done
for f in "$debian"/usr/lib/x86_64-linux-gnu/xtables/*.so; do copy_elf "${f#"$debian"}"; done
copy etc/protocols
copy etc/services
copy bin/busybox   # static

# iptables: every name goes through the wrapper that picks nft or legacy as the node does;
# the explicit -nft and -legacy names go straight to their backend.
install -m 0755 scripts/image/iptables-wrapper "$tools/usr/sbin/iptables-wrapper"
for fam in iptables ip6tables; do
  for suffix in '' -save -restore; do
    ln -sf iptables-wrapper "$tools/usr/sbin/$fam$suffix"
    for backend in nft legacy; do ln -sf "xtables-$backend-multi" "$tools/usr/sbin/$fam-$backend$suffix"; done
  done
done
# busybox, with only the applets install-cni (sh, cp, chmod, ln, mv), the wrapper (grep)
# and kpr (sysctl: route_localnet for localhost NodePorts, IPVS's settings) use.
for applet in sh cp chmod ln mv rm grep; do ln -sf busybox "$tools/bin/$applet"; done
ln -sf /bin/busybox "$tools/sbin/sysctl"
mkdir -p "$tools"/{tmp,run,proc,sys,dev,var/lib,etc}
chmod 1777 "$tools/tmp"

cp dist/bin/kpr dist/bin/netlink.node dist/bin/kpr-sys.node "$cache/kpr/usr/local/bin/"
# The moving-in scripts (manifests/README.md), run on a node from the image.
install -m 0755 scripts/migrate-from-flannel.sh "$cache/kpr/usr/local/bin/kpr-migrate-flannel"
install -m 0755 scripts/migrate-from-kube-proxy.sh "$cache/kpr/usr/local/bin/kpr-migrate-kube-proxy"

# The kpr executable (a Node single executable) loads glibc and libstdc++ too.
copy_libs dist/bin/kpr

# --- 3. the image -----------------------------------------------------------------------
cat > "$cache/Containerfile" <<EOF
FROM scratch
COPY tools/ /
COPY kpr/ /
ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 0:0
ENTRYPOINT ["/usr/local/bin/kpr"]
CMD ["--help"]
LABEL org.opencontainers.image.title=kpr org.opencontainers.image.version=$version \
      org.opencontainers.image.description="kpr: a kube-proxy replacement with its own CNI plugin" \
      org.opencontainers.image.licenses=Apache-2.0
EOF
podman build --quiet --layers --tag "$ref" --file "$cache/Containerfile" "$cache" >/dev/null
mkdir -p dist
rm -f "$archive"
podman save --quiet --format oci-archive --output "$archive" "$ref"

# The archive holds the layers gzip-compressed, as a registry stores and serves them.
size=$(podman image inspect --format '{{.Size}}' "$ref")
compressed=$(stat -c %s "$archive")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "image: $ref: $(mib "$size") unpacked, $(mib "$compressed") compressed ($archive), built in $(($(date +%s) - start)) s" >&2
