// `--service ns/name` and `--frontend IP:PORT`: the part of an inspection an operator
// asked for. Pure.
import { normalizeIP } from '../../lib/ip.ts';
import type { Frontend, Inspection } from './model.ts';

export interface FrontendFilter {
  address: string;
  port: number;
}

/** "10.96.0.10:80", "[fd00::10]:80", "*:30080" -> address and port; throws naming `what` and the text. */
export function parseFrontendFilter(text: string, what = '--frontend'): FrontendFilter {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const address = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  const ip = address === '*' ? '*' : address !== undefined ? normalizeIP(address) : undefined;
  if (!ip || !(port > 0 && port < 65536)) throw new Error(`invalid ${what} "${text}": want IP:PORT, [IPv6]:PORT or *:NODEPORT`);
  return { address: ip, port };
}

/** A NodePort ("*") frontend answers on its port at every node address: IP:PORT matches it too. */
function matches(f: Frontend, want: { service?: string; frontend?: FrontendFilter }): boolean {
  if (want.service && !(f.service === want.service || f.service?.startsWith(`${want.service}:`))) return false;
  if (want.frontend && !(f.port === want.frontend.port && (f.address === want.frontend.address || f.address === '*'))) return false;
  return true;
}

export function filterInspection(ins: Inspection, want: { service?: string; frontend?: FrontendFilter }): Inspection {
  if (!want.service && !want.frontend) return ins;
  return { ...ins, views: ins.views.map((v) => ({ ...v, frontends: v.frontends.filter((f) => matches(f, want)) })) };
}
