// What an operator sees of a network's store: one row per address file. Pure over
// a StoreState snapshot.
import { addressState, type StoreState } from './state.ts';

export interface AllocationRow {
  network: string;
  ip: string;
  state: 'allocated' | 'recycled' | 'corrupt';
  /** Empty for recycled and corrupt addresses. */
  containerId: string;
  ifName: string;
  /** "namespace/name" of a sticky allocation, else empty. */
  pod: string;
  /** Epoch ms until which a recycled address waits for its pod (undefined: unknown). */
  until?: number;
  file: string;
  /** Why a corrupt file could not be read. */
  error?: string;
}

export function allocationRows(network: string, state: StoreState): AllocationRow[] {
  const rows: AllocationRow[] = [];
  for (const [ip, r] of state.reservations) {
    const a = addressState(state, ip);
    if (!a) continue;
    const base = { network, ip, file: r.file };
    if (a.kind === 'corrupt') {
      rows.push({ ...base, state: 'corrupt', containerId: '', ifName: '', pod: '', error: a.error.message });
    } else if (a.kind === 'recycled') {
      const until = a.expiresAt === undefined ? {} : { until: a.expiresAt };
      rows.push({ ...base, state: 'recycled', containerId: '', ifName: a.ifName, pod: `${a.pod.podNamespace}/${a.pod.podName}`, ...until });
    } else {
      const pod = a.pod ? `${a.pod.podNamespace}/${a.pod.podName}` : '';
      rows.push({ ...base, state: 'allocated', containerId: a.holder.containerId, ifName: a.holder.ifName ?? '', pod });
    }
  }
  return rows;
}

export function stateText(row: AllocationRow): string {
  if (row.state !== 'recycled') return row.state;
  return row.until === undefined ? 'recycled (expiry unknown)' : `recycled until ${new Date(row.until).toISOString()}`;
}

/** A plain-text table: a header and left-aligned columns two spaces apart. */
export function formatTable(rows: readonly AllocationRow[]): string {
  const header = ['NETWORK', 'IP', 'CONTAINER ID', 'IFNAME', 'POD', 'STATE'];
  const cells = rows.map((r) => [r.network, r.ip, r.containerId || '-', r.ifName || '-', r.pod || '-', stateText(r)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]?.length ?? 0)));
  const line = (c: string[]): string => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join('  ');
  return [header, ...cells].map(line).join('\n') + '\n';
}
