// The conntrack settings kube-proxy applies at start (its --conntrack-* flags): a table
// large enough for the node, and the TCP/UDP timeouts. Computed purely, applied as
// /proc/sys writes in the proxy's network namespace; a setting the kernel refuses
// (nf_conntrack_max is read-only outside the initial namespace on some kernels) is
// logged and skipped, as upstream does.
import { readFile, writeFile } from 'node:fs/promises';
import { errorMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { ProxyConfig } from '../config/config.ts';

export interface Sysctl {
  key: string;
  value: number;
  /** Only raise the value (nf_conntrack_max: never shrink a table someone enlarged). */
  onlyRaise?: boolean;
}

const seconds = (ms: number) => Math.round(ms / 1000);

export function conntrackSysctls(c: ProxyConfig['conntrack'], cpus: number): Sysctl[] {
  const out: Sysctl[] = [];
  if (c.maxPerCore > 0) out.push({ key: 'net/netfilter/nf_conntrack_max', value: Math.max(c.maxPerCore * cpus, c.min), onlyRaise: true });
  if (c.tcpEstablishedTimeoutMs > 0) out.push({ key: 'net/netfilter/nf_conntrack_tcp_timeout_established', value: seconds(c.tcpEstablishedTimeoutMs) });
  if (c.tcpCloseWaitTimeoutMs > 0) out.push({ key: 'net/netfilter/nf_conntrack_tcp_timeout_close_wait', value: seconds(c.tcpCloseWaitTimeoutMs) });
  if (c.tcpBeLiberal) out.push({ key: 'net/netfilter/nf_conntrack_tcp_be_liberal', value: 1 });
  if (c.udpTimeoutMs > 0) out.push({ key: 'net/netfilter/nf_conntrack_udp_timeout', value: seconds(c.udpTimeoutMs) });
  if (c.udpStreamTimeoutMs > 0) out.push({ key: 'net/netfilter/nf_conntrack_udp_timeout_stream', value: seconds(c.udpStreamTimeoutMs) });
  return out;
}

export async function applySysctls(sysctls: readonly Sysctl[], log: Logger, root = '/proc/sys'): Promise<void> {
  for (const s of sysctls) {
    const path = `${root}/${s.key}`;
    try {
      const current = Number((await readFile(path, 'utf8')).trim());
      if (current === s.value || (s.onlyRaise && current > s.value)) continue;
      await writeFile(path, String(s.value));
      log.info({ sysctl: s.key, from: current, to: s.value }, 'set conntrack sysctl');
    } catch (err) {
      log.warn({ sysctl: s.key, value: s.value, err: errorMessage(err) }, 'cannot set conntrack sysctl; continuing');
    }
  }
}
