// Pure core of `kpr inspect`: the kernel listings the shell collected -> which modes'
// objects exist (auto-detection) and a view per mode and family, or an error naming
// what was looked for and not found.
import { KprError } from '../../lib/errors.ts';
import type { IPFamily } from '../../lib/ip.ts';
import { hasIptablesMode, parseIptablesView } from './iptables.ts';
import { hasIpvsServices, parseIpvsView } from './ipvs.ts';
import { MODES, type Inspection, type Mode, type View } from './model.ts';
import { parseNftablesView } from './nftables.ts';
import { ProxyError } from '../errors.ts';

export interface FamilyListings {
  /** `iptables-save` / `ip6tables-save` output; undefined when it could not run. */
  iptablesSave?: string;
  /** `nft -j list table ip|ip6 kpr`; undefined when the table does not exist (or nft could not run). */
  nftJson?: string;
}

export interface Listings {
  families: Partial<Record<IPFamily, FamilyListings>>;
  /** `ipvsadm -S -n`; undefined when IPVS or ipvsadm is unavailable. */
  ipvsadm?: string;
  /** `ipset save`; undefined when unavailable. */
  ipset?: string;
  /** The IPVS mode's names files (proxy/ipvs/names.ts) per family, when present. */
  ipvsNames?: Partial<Record<IPFamily, ReadonlyMap<string, string>>>;
  /** Tools that could not run, with why (e.g. "nft: not installed"), for error messages. */
  problems: string[];
}

const v = (f: IPFamily) => `IPv${f}`;

/** Where a mode's objects are in one family, or undefined when they are not there. */
function locate(mode: Mode, family: IPFamily, l: Listings): string | undefined {
  const fam = l.families[family] ?? {};
  switch (mode) {
    case 'iptables':
      return fam.iptablesSave !== undefined && hasIptablesMode(fam.iptablesSave) ? `KUBE-SERVICES in ${v(family)} nat` : undefined;
    case 'nftables':
      return fam.nftJson !== undefined ? `table ${family === 4 ? 'ip' : 'ip6'} kpr` : undefined;
    case 'ipvs':
      return l.ipvsadm !== undefined && hasIpvsServices(l.ipvsadm, family) ? `${v(family)} virtual servers` : undefined;
  }
}

const LOOKED_FOR: Record<Mode, string> = {
  iptables: 'no KUBE-SERVICES chain in the nat table of iptables-save or ip6tables-save',
  nftables: 'no nftables table ip kpr or ip6 kpr',
  ipvs: 'no IPVS virtual servers in ipvsadm -S -n',
};

function view(mode: Mode, family: IPFamily, l: Listings): View {
  const fam = l.families[family] ?? {};
  switch (mode) {
    case 'iptables':
      return parseIptablesView(fam.iptablesSave ?? '', family);
    case 'nftables':
      return parseNftablesView(fam.nftJson ?? '', family);
    case 'ipvs':
      return parseIpvsView({ ipvsadm: l.ipvsadm ?? '', ipset: l.ipset ?? '', nat: fam.iptablesSave ?? '', names: l.ipvsNames?.[family] }, family);
  }
}

/** Views of `mode` (or of every mode found, for "auto") in the given families. */
export function inspect(l: Listings, mode: Mode | 'auto', families: readonly IPFamily[]): Inspection {
  const candidates = mode === 'auto' ? MODES : [mode];
  const found: Inspection['found'] = [];
  const views: View[] = [];
  for (const m of candidates) {
    const where = families.map((f) => [f, locate(m, f, l)] as const).filter((x): x is readonly [IPFamily, string] => x[1] !== undefined);
    if (where.length === 0) continue;
    found.push({ mode: m, where: where.map((x) => x[1]).join(', ') });
    for (const [f] of where) views.push(view(m, f, l));
  }
  if (found.length === 0) {
    const scope = families.length === 1 ? ` for ${v(families[0] as IPFamily)}` : '';
    const what = mode === 'auto' ? 'in iptables, nftables or IPVS' : `in ${mode} mode`;
    const details = [...candidates.map((m) => LOOKED_FOR[m]), ...l.problems].join('; ');
    throw new ProxyError('INSPECT_NOTHING', `no kpr rules found ${what} on this node${scope} (${details})`);
  }
  return { found, views };
}
