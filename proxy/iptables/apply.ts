// The only code of the iptables mode that talks to the kernel.
import { run } from '../../lib/exec.ts';
import type { IPFamily } from '../../lib/ip.ts';
import type { KernelView } from './restore-plan.ts';
import type { FeatureProbes } from './features.ts';

export interface IptablesTables extends FeatureProbes {
  /** Applies restore input without flushing what it does not name (one atomic call). */
  restore(text: string): Promise<void>;
  /** Reads what kpr needs to know of the kernel for a full sync. */
  view(): Promise<KernelView>;
  /** The raw iptables-save output of one table. */
  save(table: 'filter' | 'nat'): Promise<string>;
  /** Lets 127.0.0.1 be DNATed to a pod (localhost NodePorts, IPv4 only). */
  allowLocalhostNodePorts(): Promise<void>;
}

/**
 * iptables-restore / iptables-save for one family. `wrap` prefixes every command
 * (tests use `ip netns exec NS`); the daemon runs in the node's namespace and needs none.
 */
export function iptablesTables(family: IPFamily, wrap: readonly string[] = []): IptablesTables {
  const bin = family === 4 ? 'iptables' : 'ip6tables';
  const exec = (cmd: string, args: string[], input?: string) => {
    const [head, ...rest] = [...wrap, cmd, ...args];
    return run(head as string, rest, input === undefined ? {} : { input });
  };
  const save = async (table: 'filter' | 'nat') => (await exec(`${bin}-save`, ['-t', table])).stdout;
  return {
    save,
    version: async () => (await exec(bin, ['--version'])).stdout,
    nfacctList: async () => (await exec('nfacct', ['list'])).stdout,
    async nfacctAdd(name) {
      await exec('nfacct', ['add', name]);
    },
    async allowLocalhostNodePorts() {
      await exec('sysctl', ['-qw', 'net.ipv4.conf.all.route_localnet=1']);
    },
    async restore(text) {
      if (text === '') return;
      // -w waits for the xtables lock instead of failing when another writer (a CNI
      // plugin, kubelet) holds it.
      await exec(`${bin}-restore`, ['--noflush', '-w', '5', '-W', '100000'], text);
    },
    async view() {
      const [nat, filter] = await Promise.all([save('nat'), save('filter')]);
      const natChains = new Set<string>();
      const jumps: KernelView['jumps'] = { nat: [], filter: [] };
      for (const [table, text] of [['nat', nat], ['filter', filter]] as const) {
        const into = jumps[table] as string[];
        for (const line of text.split('\n')) {
          if (table === 'nat' && line.startsWith(':')) natChains.add(line.slice(1).split(' ')[0] ?? '');
          if (/^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) .*-j KUBE-[A-Z-]+\s*$/.test(line)) into.push(line);
        }
      }
      return { natChains, jumps };
    },
  };
}
