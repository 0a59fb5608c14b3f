// `kpr explain`'s answer as text (or JSON).
import type { Explanation } from './explain.ts';

const hostPort = (a: string, port: number) => (a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`);
const ORIGIN = { pod: 'from a pod', external: 'from outside the cluster', node: 'from the node itself' } as const;

export function formatExplanation(e: Explanation): string {
  const p = e.packet;
  const out = [`${p.protocol.toUpperCase()} ${p.src} -> ${hostPort(p.dst, p.port)} (${ORIGIN[p.from]}), ${e.mode} mode`];
  const f = e.frontend;
  if (f) {
    const traits = [f.kind, f.service ?? '(no name)', f.policy ? `policy ${f.policy}` : '', f.affinitySeconds ? `affinity ${f.affinitySeconds}s` : '', f.scheduler ? `scheduler ${f.scheduler}` : ''];
    out.push(`frontend: ${f.protocol.toUpperCase()} ${hostPort(f.address, f.port)}  ${traits.filter(Boolean).join(', ')}`);
  } else {
    out.push('frontend: none');
  }
  const verdict = e.outcome === 'balanced' ? `DNAT to one of ${e.backends?.length ?? 0} backends` : e.outcome === 'local' ? 'delivered to the node' : e.outcome === 'unrouted' ? 'not a Service connection' : e.outcome;
  out.push(`outcome: ${verdict} — ${e.reason}`);
  for (const b of e.backends ?? []) {
    const share = b.weight !== undefined ? `weight ${b.weight}` : b.probability !== undefined ? b.probability.toFixed(4) : '-';
    out.push(`  -> ${hostPort(b.address, b.port).padEnd(24)}${share.padEnd(10)}${b.masquerade ? 'masqueraded' : 'source kept'} (${b.why})`);
  }
  return `${out.join('\n')}\n`;
}

export const formatExplanationJson = (e: Explanation) => `${JSON.stringify(e, null, 2)}\n`;
