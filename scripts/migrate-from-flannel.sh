#!/bin/sh
# kpr-migrate-flannel: turns a node that ran flannel into one kpr's CNI plugin can use,
# removing what flannel leaves behind (it has no uninstall step of its own):
#   - links: the cni0 bridge (flannel's delegate "bridge" plugin), flannel.1 and
#     flannel-v6.1 (VXLAN), flannel-wg / flannel-wg-v6 (WireGuard), flannel.ipip (IPIP);
#     their addresses, routes, neighbour and FDB entries go with them;
#   - routes into flannel's network left on other devices (host-gw backend);
#   - iptables (both families): the "flanneld masq" and "flanneld forward" jumps and the
#     FLANNEL-POSTRTG / FLANNEL-FWD chains; nftables: tables ip flannel-ipv4, ip6 flannel-ipv6;
#   - files: /run/flannel (subnet.env), the flannel conflists in /etc/cni/net.d,
#     /opt/cni/bin/flannel, /var/lib/cni/flannel (its per-pod cache), the host-local
#     IPAM state of its network (/var/lib/cni/networks/cbr0) and libcni's cached results
#     of that network.
# Run it on a drained node after flannel's DaemonSet is gone (else flanneld puts it all
# back); it refuses while pods are still attached to cni0 unless --force. Kept: sysctls
# (ip_forward), loaded modules. Safe to run again; --dry-run prints what it would do.
#
# Usage: kpr-migrate-flannel [--root DIR] [--network NAME] [--dry-run] [--force]
#   --root DIR      the node's filesystem is at DIR (default /; /host when run from
#                   the kpr image with the node's / mounted there)
#   --network NAME  flannel's CNI network name (default cbr0)
# In the image: /usr/local/bin/kpr-migrate-flannel. It uses only sh, ip, iptables,
# ip6tables, nft, grep and rm.
set -eu

root=/ network=cbr0 dry=0 force=0
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    --network) network=${2:?--network needs a name}; shift 2 ;;
    --network=*) network=${1#--network=}; shift ;;
    --dry-run) dry=1; shift ;;
    --force) force=1; shift ;;
    -h | --help) while IFS= read -r line; do case $line in '#!'*) ;; '#'*) echo "${line#'#'}" ;; *) break ;; esac; done <"$0"; exit 0 ;;
    *) echo "kpr-migrate-flannel: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
root=${root%/}
# A busybox shell may prefer its own applets to the PATH: name the real ip.
IP=ip
for p in /sbin/ip /usr/sbin/ip /bin/ip; do [ -x "$p" ] && { IP=$p; break; }; done

do_() { # runs (or prints, with --dry-run) one step
  echo "kpr-migrate-flannel: $*"
  [ "$dry" = 1 ] || "$@"
}
have_link() { "$IP" link show dev "$1" >/dev/null 2>&1; }

# flannel's network, for the routes it left on other devices.
networks=''
env="$root/run/flannel/subnet.env"
if [ -f "$env" ]; then
  while IFS='=' read -r key value; do
    case $key in FLANNEL_NETWORK | FLANNEL_IPV6_NETWORK) [ -n "$value" ] && networks="$networks $value" ;; esac
  done <"$env"
fi

if have_link cni0 && [ "$force" = 0 ]; then
  ports=$("$IP" -o link show master cni0 | grep -c . || true)
  if [ "$ports" -gt 0 ]; then
    echo "kpr-migrate-flannel: $ports pod interface(s) still attached to cni0: drain the node first (or --force)" >&2
    exit 1
  fi
fi

for link in cni0 flannel.1 flannel-v6.1 flannel-wg flannel-wg-v6 flannel.ipip; do
  if have_link "$link"; then do_ "$IP" link del "$link"; fi
done

for net in $networks; do
  fam=-4
  case $net in *:*) fam=-6 ;; esac
  # Only routes through a gateway (host-gw's "via <node>"), never on kpr's own devices.
  "$IP" "$fam" route show root "$net" | grep ' via ' | grep -v ' dev kpr' | while read -r route; do
    [ -n "$route" ] || continue
    # shellcheck disable=SC2086 # the route's words are its arguments
    do_ "$IP" "$fam" route del $route
  done
done

for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null 2>&1 || continue
  for table in nat filter; do
    rules=$("$ipt-save" -t "$table" 2>/dev/null | grep -E '^-A [A-Z]+ .*-j FLANNEL-' || true)
    echo "$rules" | while read -r rule; do
      [ -n "$rule" ] || continue
      # iptables-save quotes comments as the shell does: let the shell split it.
      eval "set -- ${rule#-A }"
      do_ "$ipt" -t "$table" -D "$@"
    done
    for chain in $("$ipt-save" -t "$table" 2>/dev/null | grep -oE '^:FLANNEL-[A-Z0-9-]+' | grep -oE 'FLANNEL-[A-Z0-9-]+' || true); do
      do_ "$ipt" -t "$table" -F "$chain"
      do_ "$ipt" -t "$table" -X "$chain"
    done
  done
done

if command -v nft >/dev/null 2>&1; then
  for t in 'ip flannel-ipv4' 'ip6 flannel-ipv6'; do
    # shellcheck disable=SC2086 # family and name
    if nft list table $t >/dev/null 2>&1; then do_ nft delete table $t; fi
  done
fi

for f in "$root/etc/cni/net.d/"*flannel* "$root/opt/cni/bin/flannel" "$root/run/flannel" \
         "$root/var/lib/cni/flannel" "$root/var/lib/cni/networks/$network" "$root/var/lib/cni/results/$network-"*; do
  if [ -e "$f" ]; then do_ rm -rf "$f"; fi
done
echo "kpr-migrate-flannel: done; kpr's install-cni puts its own conflist in place"
