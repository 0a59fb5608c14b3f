// The view as text, close to `ipvsadm -Ln` (a line per frontend, "  -> " per backend),
// and as JSON.
import type { Backend, Frontend, Inspection, Rates, Stats, View } from './model.ts';

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function share(b: Backend): string {
  if (b.weight !== undefined) return String(b.weight);
  return b.probability === undefined ? '-' : b.probability.toFixed(4);
}

function verdictText(f: Frontend): string {
  if (!f.verdict) return '';
  return f.reason ? `${f.verdict} (${f.reason})` : f.verdict;
}

/** Counters as text ("active 2  total 5  packets 40  bytes 3200"); "" without any. */
function counters(x: { stats?: Stats; rates?: Rates }): string {
  const out: string[] = [];
  if (x.stats) {
    out.push(`active ${x.stats.active}`, `total ${x.stats.total}`);
    if (x.stats.packets !== undefined) out.push(`packets ${x.stats.packets}`);
    if (x.stats.bytes !== undefined) out.push(`bytes ${x.stats.bytes}`);
  }
  if (x.rates) {
    out.push(`conn/s ${x.rates.connections}`);
    if (x.rates.packets !== undefined) out.push(`packets/s ${x.rates.packets}`);
    if (x.rates.bytes !== undefined) out.push(`bytes/s ${x.rates.bytes}`);
  }
  return out.join('  ');
}

function viewText(v: View): string {
  const ipvs = v.mode === 'ipvs';
  const head = ['Kind', 'Policy', 'Affinity', 'Masquerade', ...(ipvs ? ['Sched'] : []), 'Service'];
  const rows = v.frontends.map((f) => [
    f.kind,
    f.policy ?? '-',
    f.affinitySeconds ? `${f.affinitySeconds}s` : '-',
    f.masquerade ?? '-',
    ...(ipvs ? [f.scheduler ?? '-'] : []),
    f.service ?? '-',
  ]);
  const addrs = v.frontends.flatMap((f) => [hostPort(f.address, f.port), ...[...f.backends, ...(f.shortCircuit ?? [])].map((b) => hostPort(b.address, b.port))]);
  const aw = Math.max('RemoteAddress:Port'.length, ...addrs.map((a) => a.length)) + 2;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)) + 2);
  // Padded to the last column, so that a REJECT/DROP note lines up after it.
  const line = (cells: string[], note = '') => `${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('')}${note}`.trimEnd();
  const out: string[] = [];
  const nodePorts = v.nodePortAddresses ? ` — NodePorts (*) on ${v.nodePortAddresses}` : '';
  out.push(`${v.mode} IPv${v.family}${nodePorts}`);
  out.push(`Prot ${'LocalAddress:Port'.padEnd(aw)}${line(head)}`);
  out.push(`  -> ${'RemoteAddress:Port'.padEnd(aw)}${ipvs ? 'Weight' : 'Prob'}`);
  v.frontends.forEach((f, i) => {
    out.push(`${f.protocol.toUpperCase().padEnd(5)}${hostPort(f.address, f.port).padEnd(aw)}${line(rows[i] ?? [], verdictText(f))}`);
    if (f.sourceRanges) out.push(`     only from ${f.sourceRanges.join(', ') || '(none)'}; others DROP`);
    if (f.stats || f.rates) out.push(`     ${counters(f)}`);
    for (const b of f.backends) out.push(`  -> ${hostPort(b.address, b.port).padEnd(aw)}${share(b).padEnd(8)}${counters(b)}`.trimEnd());
    for (const b of f.shortCircuit ?? []) out.push(`  => ${hostPort(b.address, b.port).padEnd(aw)}${share(b).padEnd(8)}pods and node (short-circuit)`);
  });
  return out.join('\n');
}

export function formatText(ins: Inspection): string {
  const found = ins.found.map((f) => `${f.mode} (${f.where})`).join(', ');
  const warn = new Set(ins.found.map((f) => f.mode)).size > 1 ? '\nwarning: more than one mode has kpr objects on this node; only one should' : '';
  const rate = ins.rateSeconds ? `\nrates over ${ins.rateSeconds} s` : '';
  return `found: ${found}${warn}${rate}\n\n${ins.views.map(viewText).join('\n\n')}\n`;
}

export function formatJson(ins: Inspection): string {
  return `${JSON.stringify(ins, null, 2)}\n`;
}
