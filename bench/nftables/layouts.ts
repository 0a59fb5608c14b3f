// Candidate nftables layouts for the same Services, written as `nft -f` text, to
// measure which one the kernel (and the nft binary) programs fastest. Each layout
// keeps the semantics that matter for the cost: VIP dispatch, masquerade marking,
// random choice among E endpoints, hairpin masquerade and DNAT.
export type LayoutName = 'upstream' | 'cascade' | 'inline' | 'datamap' | 'shared';
export const LAYOUTS: readonly LayoutName[] = ['upstream', 'cascade', 'inline', 'datamap', 'shared'];

const POD_CIDR = '10.244.0.0/16';

export function clusterIP(i: number): string {
  return `10.96.${(i >> 8) & 255}.${i & 255}`;
}

export function endpointIP(i: number, k: number, e: number): string {
  const n = i * e + k + 1;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function skeleton(layout: LayoutName): string[] {
  const lines = [
    'add table ip kpr',
    'add chain ip kpr nat-prerouting { type nat hook prerouting priority dstnat ; }',
    'add chain ip kpr nat-output { type nat hook output priority -100 ; }',
    'add chain ip kpr nat-postrouting { type nat hook postrouting priority srcnat ; }',
    'add chain ip kpr services',
    'add chain ip kpr masquerading',
    'add chain ip kpr mark-for-masquerade',
    'add rule ip kpr mark-for-masquerade mark set mark or 0x4000',
    'add map ip kpr service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }',
    'add rule ip kpr nat-prerouting jump services',
    'add rule ip kpr nat-output jump services',
    'add rule ip kpr nat-postrouting jump masquerading',
    'add rule ip kpr services ip daddr . meta l4proto . th dport vmap @service-ips',
  ];
  if (layout === 'inline' || layout === 'datamap' || layout === 'shared') {
    // Hairpin (a pod reaching itself through a Service) is caught after DNAT: source
    // and destination are the same local endpoint.
    lines.push(
      'add set ip kpr hairpin { type ipv4_addr . ipv4_addr ; }',
      'add rule ip kpr masquerading ct status dnat ip saddr . ip daddr @hairpin masquerade fully-random',
    );
  }
  if (layout === 'shared') {
    lines.push(
      'add map ip kpr cluster-dispatch { type ipv4_addr . inet_proto . inet_service : verdict ; }',
      'add chain ip kpr internal-cluster',
      `add rule ip kpr internal-cluster ip saddr != ${POD_CIDR} jump mark-for-masquerade`,
      'add rule ip kpr internal-cluster ip daddr . meta l4proto . th dport vmap @cluster-dispatch',
    );
  }
  if (layout === 'datamap' || layout === 'shared') {
    lines.push('add map ip kpr cluster-endpoints { typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport ; }');
  }
  lines.push(
    'add rule ip kpr masquerading mark and 0x4000 == 0 return',
    'add rule ip kpr masquerading mark set mark xor 0x4000',
    'add rule ip kpr masquerading masquerade fully-random',
  );
  return lines;
}

/** One map serves every E: `typeof ... numgen random mod 1` declares the 32-bit slot. */
function dnatFromMap(e: number): string {
  return `dnat ip to ip daddr . meta l4proto . th dport . numgen random mod ${e} map @cluster-endpoints`;
}

/** The rules of one Service (index i, E endpoints) in the given layout. */
export function serviceLines(layout: LayoutName, i: number, e: number): string[] {
  const vip = clusterIP(i);
  const chain = `service-${i}`;
  const masq = `add rule ip kpr ${chain} ip daddr ${vip} ip saddr != ${POD_CIDR} jump mark-for-masquerade`;
  const out: string[] = [];
  const eps = Array.from({ length: e }, (_, k) => endpointIP(i, k, e));
  const epChain = (k: number) => `endpoint-${i}-${k}`;
  const endpointChains = () => {
    for (let k = 0; k < e; k++) {
      out.push(
        `add chain ip kpr ${epChain(k)}`,
        `add rule ip kpr ${epChain(k)} ip saddr ${eps[k]} jump mark-for-masquerade`,
        `add rule ip kpr ${epChain(k)} meta l4proto tcp dnat to ${eps[k]}:8080`,
      );
    }
  };
  switch (layout) {
    case 'upstream': {
      endpointChains();
      const vmap = eps.map((_, k) => `${k} : goto ${epChain(k)}`).join(' , ');
      out.push(`add chain ip kpr ${chain}`, masq, `add rule ip kpr ${chain} numgen random mod ${e} vmap { ${vmap} }`);
      break;
    }
    case 'cascade': {
      endpointChains();
      out.push(`add chain ip kpr ${chain}`, masq);
      for (let k = 0; k < e; k++) {
        const cond = k < e - 1 ? `numgen random mod ${e - k} == 0 ` : '';
        out.push(`add rule ip kpr ${chain} ${cond}goto ${epChain(k)}`);
      }
      break;
    }
    case 'inline': {
      out.push(`add chain ip kpr ${chain}`, masq);
      for (let k = 0; k < e; k++) {
        const cond = k < e - 1 ? `numgen random mod ${e - k} == 0 ` : '';
        out.push(`add rule ip kpr ${chain} ${cond}meta l4proto tcp dnat to ${eps[k]}:8080`);
      }
      break;
    }
    case 'datamap':
      out.push(`add chain ip kpr ${chain}`, masq, `add rule ip kpr ${chain} ${dnatFromMap(e)}`);
      break;
    case 'shared':
      break;
  }
  if (layout === 'datamap' || layout === 'shared') {
    const elems = eps.map((ip, k) => `${vip} . tcp . 80 . ${k} : ${ip} . 8080`);
    out.push(`add element ip kpr cluster-endpoints { ${elems.join(' , ')} }`);
  }
  if (layout === 'inline' || layout === 'datamap' || layout === 'shared') {
    out.push(`add element ip kpr hairpin { ${eps.map((ip) => `${ip} . ${ip}`).join(' , ')} }`);
  }
  if (layout === 'shared') {
    out.push(`add element ip kpr cluster-dispatch { ${vip} . tcp . 80 : goto dnat-cluster-${e} }`);
  }
  const target = layout === 'shared' ? 'internal-cluster' : chain;
  out.push(`add element ip kpr service-ips { ${vip} . tcp . 80 : goto ${target} }`);
  return out;
}

/**
 * Layout "shared" has no per-Service chain: a fixed policy chain, then a dispatch
 * verdict map to the one DNAT chain of each endpoint count.
 */
function sharedChains(e: number): string[] {
  return [`add chain ip kpr dnat-cluster-${e}`, `add rule ip kpr dnat-cluster-${e} ${dnatFromMap(e)}`];
}

/** A complete ruleset: n Services with e endpoints each. */
export function ruleset(layout: LayoutName, n: number, e: number): string {
  const lines = skeleton(layout);
  if (layout === 'shared') lines.push(...sharedChains(e));
  for (let i = 0; i < n; i++) lines.push(...serviceLines(layout, i, e));
  return `${lines.join('\n')}\n`;
}

/**
 * The smallest transaction that replaces endpoint 0 of Service `i` by a new address,
 * as each layout has to write it.
 */
export function endpointChange(layout: LayoutName, i: number, e: number, newIP: string): string {
  const vip = clusterIP(i);
  const chain = `service-${i}`;
  const lines: string[] = [];
  switch (layout) {
    case 'upstream':
    case 'cascade': {
      // Upstream names endpoint chains after the endpoint: a new chain replaces the old one.
      const fresh = `endpoint-${i}-new`;
      const body = serviceLines(layout, i, e)
        .filter((l) => l.startsWith(`add rule ip kpr ${chain} `) || l.startsWith(`add rule ip kpr endpoint-${i}-0 `))
        .map((l) => l.replaceAll(`endpoint-${i}-0`, fresh).replace(endpointIP(i, 0, e), newIP));
      lines.push(`add chain ip kpr ${fresh}`, `flush chain ip kpr ${chain}`, ...body, `delete chain ip kpr endpoint-${i}-0`);
      break;
    }
    case 'inline':
      lines.push(`flush chain ip kpr ${chain}`);
      lines.push(...serviceLines(layout, i, e).filter((l) => l.startsWith(`add rule ip kpr ${chain} `)).map((l) => l.replace(endpointIP(i, 0, e), newIP)));
      break;
    case 'datamap':
    case 'shared':
      lines.push(
        `delete element ip kpr cluster-endpoints { ${vip} . tcp . 80 . 0 }`,
        `add element ip kpr cluster-endpoints { ${vip} . tcp . 80 . 0 : ${newIP} . 8080 }`,
      );
      break;
  }
  return `${lines.join('\n')}\n`;
}
