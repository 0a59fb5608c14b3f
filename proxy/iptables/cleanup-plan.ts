// What `kpr proxy --cleanup` (and a switch to another mode) removes of the iptables
// mode: the jumps into kpr's chains and the chains themselves, computed from
// iptables-save output. kubelet's KUBE-FIREWALL and anything not ours stays.
import { KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_PROXY_FIREWALL, KUBE_SERVICES, isServiceChain } from './chains.ts';

const OWNED: Record<'filter' | 'nat', readonly string[]> = {
  filter: [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL],
  nat: [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ],
};

function tableCleanup(table: 'filter' | 'nat', save: string): string[] {
  const chains = save
    .split('\n')
    .filter((l) => l.startsWith(':'))
    .map((l) => l.slice(1).split(' ')[0] ?? '');
  const owned = chains.filter((c) => OWNED[table].includes(c) || (table === 'nat' && isServiceChain(c))).sort();
  if (owned.length === 0) return [];
  const ownedSet = new Set(owned);
  const unjump = save
    .split('\n')
    .filter((l) => /^-A [A-Z]+ /.test(l))
    .filter((l) => {
      const chain = l.split(' ')[1] ?? '';
      const target = /-j (\S+)/.exec(l)?.[1] ?? '';
      return !ownedSet.has(chain) && ownedSet.has(target);
    })
    .map((l) => `-D ${l.slice(3)}`);
  return [`*${table}`, ...owned.map((c) => `:${c} - [0:0]`), ...unjump, ...owned.map((c) => `-X ${c}`), 'COMMIT'];
}

/** Restore input that removes every iptables object kpr owns ("" when there is none). */
export function planCleanup(filterSave: string, natSave: string): string {
  const lines = [...tableCleanup('filter', filterSave), ...tableCleanup('nat', natSave)];
  return lines.length ? `${lines.join('\n')}\n` : '';
}
