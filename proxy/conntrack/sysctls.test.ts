import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { applySysctls, conntrackSysctls } from './sysctls.ts';

const defaults = { maxPerCore: 32768, min: 131072, tcpEstablishedTimeoutMs: 86_400_000, tcpCloseWaitTimeoutMs: 3_600_000, tcpBeLiberal: false, udpTimeoutMs: 0, udpStreamTimeoutMs: 0 };

describe('conntrack sysctls', () => {
  it("follow kube-proxy's rules: max is per core with a floor; unset timeouts are left alone", () => {
    expect(conntrackSysctls(defaults, 2)).toEqual([
      { key: 'net/netfilter/nf_conntrack_max', value: 131072, onlyRaise: true },
      { key: 'net/netfilter/nf_conntrack_tcp_timeout_established', value: 86400 },
      { key: 'net/netfilter/nf_conntrack_tcp_timeout_close_wait', value: 3600 },
    ]);
    expect(conntrackSysctls({ ...defaults, maxPerCore: 0, tcpBeLiberal: true, udpTimeoutMs: 30_000 }, 64).map((s) => s.key)).toEqual([
      'net/netfilter/nf_conntrack_tcp_timeout_established',
      'net/netfilter/nf_conntrack_tcp_timeout_close_wait',
      'net/netfilter/nf_conntrack_tcp_be_liberal',
      'net/netfilter/nf_conntrack_udp_timeout',
    ]);
    expect(conntrackSysctls(defaults, 8)[0]?.value).toBe(262144);
  });

  it('writes what differs, never shrinks the table, and survives refusals', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kpr-sysctl-'));
    try {
      await mkdir(join(root, 'net/netfilter'), { recursive: true });
      await writeFile(join(root, 'net/netfilter/nf_conntrack_max'), '524288\n');
      await writeFile(join(root, 'net/netfilter/nf_conntrack_tcp_timeout_established'), '432000\n');
      // nf_conntrack_tcp_timeout_close_wait is missing: a refusal, logged and skipped.
      await applySysctls(conntrackSysctls(defaults, 2), createLogger('test', 'silent'), root);
      expect((await readFile(join(root, 'net/netfilter/nf_conntrack_max'), 'utf8')).trim()).toBe('524288');
      expect((await readFile(join(root, 'net/netfilter/nf_conntrack_tcp_timeout_established'), 'utf8')).trim()).toBe('86400');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
