// The only code of the IPVS mode that talks to the kernel: ipvsadm, ipset,
// iptables-restore / iptables-save, ip (kube-ipvs0) and sysctl, each run once per step.
import { KprError } from '../../lib/errors.ts';
import { isExecError, run as execRun, type RunOptions, type RunResult, type Runner } from '../../lib/exec.ts';
import { parseIpAddrJSON } from '../../lib/ip-addr.ts';
import { type IPFamily } from '../../lib/ip.ts';
import { serviceArgs } from './ipvsadm.ts';
import type { VirtualServer } from './types.ts';
import { ProxyError } from '../errors.ts';

export const DUMMY_INTERFACE = 'kube-ipvs0';
/** Up to this many services, listing them one by one beats listing a large table. */
const LIST_ONE_BY_ONE = 8;

export type { Runner };

export interface LocalAddresses {
  /** Addresses of the family on kube-ipvs0; undefined when the interface does not exist. */
  dummy: string[] | undefined;
  /** Addresses of the family on every other interface, except loopback and link-local ones. */
  others: string[];
}

/** Splits `ip -j addr show` into the addresses the mode cares about. */
export function parseLocalAddresses(json: string, family: IPFamily): LocalAddresses {
  let dummy: string[] | undefined;
  const others: string[] = [];
  for (const link of parseIpAddrJSON(json)) {
    const addrs = link.addresses.filter((a) => a.family === family);
    if (link.ifname === DUMMY_INTERFACE) dummy = addrs.map((a) => a.ip);
    else others.push(...addrs.filter((a) => a.scope !== 'host' && a.scope !== 'link').map((a) => a.ip));
  }
  return { dummy, others };
}

export class IpvsKernel {
  private readonly family: IPFamily;
  private readonly runner: Runner;
  private readonly wrap: readonly string[];

  /** `wrap` prefixes every command (tests: ["ip", "netns", "exec", NS]); the daemon needs none. */
  constructor(family: IPFamily, opts: { run?: Runner; wrap?: readonly string[] } = {}) {
    this.family = family;
    this.runner = opts.run ?? execRun;
    this.wrap = opts.wrap ?? [];
  }

  private exec(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const [head, ...rest] = [...this.wrap, cmd, ...args];
    return this.runner(head as string, rest, opts);
  }

  private get iptables(): string {
    return this.family === 4 ? 'iptables' : 'ip6tables';
  }

  async localAddresses(): Promise<LocalAddresses> {
    return parseLocalAddresses((await this.exec('ip', ['-j', 'addr', 'show'])).stdout, this.family);
  }

  /** Creates kube-ipvs0; the proxier of the other family may have just done so. */
  async ensureDummy(): Promise<void> {
    const r = await this.exec('ip', ['link', 'add', DUMMY_INTERFACE, 'type', 'dummy'], { allowFailure: true });
    if (r.exitCode !== 0 && r.errno !== 'EEXIST') {
      throw new ProxyError('IP_LINK', `cannot create ${DUMMY_INTERFACE}: ${r.stderr.trim()}`, { object: DUMMY_INTERFACE });
    }
  }

  /** Adds and removes kube-ipvs0 addresses in one `ip -batch`. */
  async changeAddresses(verb: 'add' | 'del', addresses: readonly string[]): Promise<void> {
    if (addresses.length === 0) return;
    const bits = this.family === 4 ? 32 : 128;
    const lines = addresses.map((a) => `address ${verb} ${a}/${bits} dev ${DUMMY_INTERFACE}\n`).join('');
    await this.exec('ip', ['-batch', '-'], { input: lines });
  }

  /** Whether kube-ipvs0 still holds addresses of any family. */
  async dummyHasAddresses(): Promise<boolean> {
    const r = await this.exec('ip', ['-j', 'addr', 'show', 'dev', DUMMY_INTERFACE]);
    return ([4, 6] as const).some((f) => (parseLocalAddresses(r.stdout, f).dummy ?? []).length > 0);
  }

  async deleteDummy(): Promise<void> {
    await this.exec('ip', ['link', 'del', DUMMY_INTERFACE]);
  }

  async ipvsSave(): Promise<string> {
    return (await this.exec('ipvsadm', ['-S', '-n'])).stdout;
  }

  /** `ipvsadm -S -n`, or undefined when IPVS is unavailable (no ip_vs module, no ipvsadm). */
  async ipvsSaveIfAvailable(): Promise<string | undefined> {
    return this.outputIfAvailable('ipvsadm', ['-S', '-n']);
  }

  /**
   * `ipvsadm -L -n` (connection counts) of the given services: one call per service
   * when they are few, else one listing of the whole table.
   */
  async ipvsList(services: readonly VirtualServer[]): Promise<string> {
    if (services.length > LIST_ONE_BY_ONE) return (await this.exec('ipvsadm', ['-L', '-n'])).stdout;
    const lists = await Promise.all(services.map((vs) => this.exec('ipvsadm', ['-L', '-n', ...serviceArgs(vs).split(' ')])));
    return lists.map((r) => r.stdout).join('');
  }

  /** `ipvsadm -R`: it reports failed lines on stderr but still exits 0, so stderr decides. */
  async ipvsRestore(text: string): Promise<void> {
    if (text === '') return;
    const r = await this.exec('ipvsadm', ['-R'], { input: text, allowFailure: true });
    if (r.exitCode !== 0 || r.stderr.trim() !== '') {
      throw new ProxyError('IPVSADM_RESTORE', `ipvsadm -R exited ${r.exitCode}: ${r.stderr.trim()}`);
    }
  }

  async setTimeouts(tcp: number, tcpFin: number, udp: number): Promise<void> {
    await this.exec('ipvsadm', ['--set', String(tcp), String(tcpFin), String(udp)]);
  }

  async ipsetSave(): Promise<string> {
    return (await this.exec('ipset', ['save'])).stdout;
  }

  /** `ipset save`, or undefined when ipset is unavailable. */
  async ipsetSaveIfAvailable(): Promise<string | undefined> {
    return this.outputIfAvailable('ipset', ['save']);
  }

  /** A command's output, or undefined when it fails or is not installed (cleanup on nodes without IPVS). */
  private async outputIfAvailable(cmd: string, args: readonly string[]): Promise<string | undefined> {
    try {
      const r = await this.exec(cmd, args, { allowFailure: true });
      return r.exitCode === 0 ? r.stdout : undefined;
    } catch (err) {
      if (isExecError(err)) return undefined;
      throw err;
    }
  }

  async ipsetRestore(text: string): Promise<void> {
    if (text !== '') await this.exec('ipset', ['restore', '-exist'], { input: text });
  }

  /** `iptables --version`. */
  async iptablesVersion(): Promise<string> {
    return (await this.exec(this.iptables, ['--version'])).stdout;
  }

  async iptablesSave(table: 'filter' | 'nat'): Promise<string> {
    return (await this.exec(`${this.iptables}-save`, ['-t', table])).stdout;
  }

  async iptablesRestore(text: string): Promise<void> {
    // -w: wait for the xtables lock rather than fail while another writer holds it.
    if (text !== '') await this.exec(`${this.iptables}-restore`, ['--noflush', '-w', '5', '-W', '100000'], { input: text });
  }

  async sysctl(settings: Readonly<Record<string, string | number>>): Promise<void> {
    const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
    if (args.length) await this.exec('sysctl', ['-qw', ...args]);
  }
}
