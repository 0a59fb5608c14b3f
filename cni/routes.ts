// The pod's routes as `ip -j route` shows them, compared with the routes of a
// result: what CHECK finds missing, and what ADD makes of a route whose `route add`
// found its destination taken (a second attachment of the pod: Multus' net1, …).
import { normalizeCIDR } from '../lib/ip.ts';
import { defaultDst, familyOf } from './attach.ts';
import type { Route } from './result.ts';

export interface IpRoute { dst?: string; gateway?: string; dev?: string; table?: string; pref?: string }

/** A route's destination as a CIDR ("default" and bare addresses included). */
function routeKey(dst: string, family: 4 | 6): string {
  if (dst === 'default') return defaultDst(family);
  const withLen = dst.includes('/') ? dst : `${dst}/${family === 4 ? 32 : 128}`;
  return normalizeCIDR(withLen) ?? withLen;
}

function ipRouteFamily(r: IpRoute): 4 | 6 {
  return r.pref !== undefined || (r.dst ?? '').includes(':') || (r.gateway ?? '').includes(':') ? 6 : 4;
}

/** Routes of the main table (what `route add` without a table writes to). */
function mainTable(live: readonly IpRoute[]): IpRoute[] {
  return live.filter((r) => r.table === undefined || r.table === 'main');
}

/** The expected routes missing from the live ones. */
export function missingRoutes(expected: readonly Route[], live: readonly IpRoute[]): Route[] {
  const have = new Set(mainTable(live).map((r) => `${routeKey(r.dst ?? '', ipRouteFamily(r))} ${r.gateway ?? ''}`));
  return expected.filter((r) => !have.has(`${routeKey(r.dst, familyOf(r.dst))} ${r.gw ?? ''}`));
}

/**
 * For routes that `route add` found taken on ifName: an identical route (same
 * destination, gateway and device) is done; a default route of a family the pod
 * already has a default for (another attachment's) is left out, so the first
 * attachment keeps it. Returns those left out; any other clash is an error.
 */
export function settleTakenRoutes(taken: readonly Route[], live: readonly IpRoute[], ifName: string): { leftOut: Route[]; clashes: string[] } {
  const main = mainTable(live);
  const leftOut: Route[] = [];
  const clashes: string[] = [];
  for (const r of taken) {
    const family = familyOf(r.dst);
    const dst = routeKey(r.dst, family);
    const same = main.filter((l) => ipRouteFamily(l) === family && routeKey(l.dst ?? '', family) === dst);
    if (same.some((l) => l.dev === ifName && (l.gateway ?? '') === (r.gw ?? ''))) continue;
    if (dst === defaultDst(family) && same.length > 0) leftOut.push(r);
    else clashes.push(`${r.dst} (the pod has ${same.map((l) => `${l.dst ?? ''}${l.gateway ? ` via ${l.gateway}` : ''} dev ${l.dev ?? '?'}`).join(', ') || 'it'})`);
  }
  return { leftOut, clashes };
}
