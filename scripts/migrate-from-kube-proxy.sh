#!/bin/sh
# kpr-migrate-kube-proxy: removes what kube-proxy's nftables and IPVS modes leave on a
# node that kpr does not rewrite itself. Run it on each node once kpr's pod there is
# ready (kpr then serves every Service) and kube-proxy is gone:
#   - nftables mode: the tables ip kube-proxy and ip6 kube-proxy (they would go on
#     DNATing with the endpoints kube-proxy last saw);
#   - IPVS mode, in both families: the chains only upstream's IPVS mode has (nat
#     KUBE-NODE-PORT, KUBE-LOAD-BALANCER; filter KUBE-NODE-PORT, KUBE-SOURCE-RANGES-FIREWALL,
#     KUBE-IPVS-FILTER, KUBE-IPVS-OUT-FILTER) with the rules that jump to them, then its
#     ipsets (KUBE-CLUSTER-IP, KUBE-NODE-PORT-TCP, ..., KUBE-6-...). kpr itself, when it
#     starts in iptables or nftables mode, removes the IPVS virtual servers and kube-ipvs0,
#     and rewrites the chains both share (KUBE-SERVICES, KUBE-POSTROUTING, KUBE-MARK-MASQ,
#     KUBE-FORWARD, KUBE-PROXY-FIREWALL).
#   - every mode: kube-proxy's empty KUBE-PROXY-CANARY chains (mangle, nat, filter).
# Leaves alone: kube-proxy's iptables mode's chains (kpr adopts them), kubelet's chains,
# and the IPVS leftovers while kpr itself runs in IPVS mode here (it owns the same ipsets then).
# Safe to run again; --dry-run prints what it would do.
#
# Usage: kpr-migrate-kube-proxy [--dry-run]
# In the image: /usr/local/bin/kpr-migrate-kube-proxy. It uses only sh, iptables,
# ip6tables, ipset, nft and grep.
set -eu

dry=0
for arg in "$@"; do
  case $arg in
    --dry-run) dry=1 ;;
    -h | --help) while IFS= read -r line; do case $line in '#!'*) ;; '#'*) echo "${line#'#'}" ;; *) break ;; esac; done <"$0"; exit 0 ;;
    *) echo "kpr-migrate-kube-proxy: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

do_() { # runs (or prints, with --dry-run) one step
  echo "kpr-migrate-kube-proxy: $*"
  [ "$dry" = 1 ] || "$@"
}

if command -v nft >/dev/null 2>&1; then
  for t in 'ip kube-proxy' 'ip6 kube-proxy'; do
    # shellcheck disable=SC2086 # family and name
    if nft list table $t >/dev/null 2>&1; then do_ nft delete table $t; fi
  done
fi

for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null 2>&1 || continue
  for table in mangle nat filter; do
    if "$ipt-save" -t "$table" 2>/dev/null | grep -q '^:KUBE-PROXY-CANARY '; then
      do_ "$ipt" -t "$table" -F KUBE-PROXY-CANARY
      do_ "$ipt" -t "$table" -X KUBE-PROXY-CANARY
    fi
  done
done

if iptables-save -t nat 2>/dev/null | grep -q '^:KUBE-IPVS-SERVICES '; then
  echo "kpr-migrate-kube-proxy: kpr runs in IPVS mode on this node and owns the IPVS ipsets: leaving them"
  exit 0
fi

for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null 2>&1 || continue
  for spec in 'nat KUBE-NODE-PORT KUBE-LOAD-BALANCER' 'filter KUBE-NODE-PORT KUBE-SOURCE-RANGES-FIREWALL KUBE-IPVS-FILTER KUBE-IPVS-OUT-FILTER'; do
    set -- $spec
    table=$1
    shift
    chains=$*
    save=$("$ipt-save" -t "$table" 2>/dev/null || true)
    for chain in $chains; do
      echo "$save" | grep -q "^:$chain " || continue
      echo "$save" | grep -E "^-A [^ ]+ .*-j $chain( |\$)" | while read -r rule; do
        # iptables-save quotes comments as the shell does: let the shell split it.
        eval "set -- ${rule#-A }"
        do_ "$ipt" -t "$table" -D "$@"
      done
    done
    for chain in $chains; do
      echo "$save" | grep -q "^:$chain " || continue
      do_ "$ipt" -t "$table" -F "$chain"
    done
    for chain in $chains; do
      echo "$save" | grep -q "^:$chain " || continue
      do_ "$ipt" -t "$table" -X "$chain"
    done
  done
done

if command -v ipset >/dev/null 2>&1; then
  for set in $(ipset list -n 2>/dev/null | grep -E '^KUBE-(6-)?(LOOP-BACK|CLUSTER-IP|EXTERNAL-IP|EXTERNAL-IP-LOCAL|LOAD-BALANCER|LOAD-BALANCER-LOCAL|LOAD-BALANCER-FW|LOAD-BALANCER-SOURCE-CIDR|LOAD-BALANCER-SRC-CIDR|LOAD-BALANCER-SOURCE-IP|NODE-PORT-TCP|NODE-PORT-LOCAL-TCP|NODE-PORT-UDP|NODE-PORT-LOCAL-UDP|NODE-PORT-SCTP-HASH|NODE-PORT-LOCAL-SCTP-HASH|NODE-PORT-LOCAL-SCTP|HEALTH-CHECK-NODE-PORT|IPVS-IPS)$' || true); do
    if ! do_ ipset destroy "$set"; then
      echo "kpr-migrate-kube-proxy: ipset $set is still in use (a rule outside kube-proxy's chains refers to it: iptables-save | grep $set)" >&2
      exit 1
    fi
  done
fi
echo "kpr-migrate-kube-proxy: done"
