// `kpr render --proxy-mode MODE --hostname-override NODE -f objects.yaml`: the ruleset
// kpr would program for these objects, printed without touching the kernel.
import { errorMessage } from '../../lib/errors.ts';
import type { IPFamily } from '../../lib/ip.ts';
import { loadObjects } from '../../lib/kube/object-files.ts';
import { createLogger } from '../../lib/log.ts';
import { parseProxyArgs } from '../config/config.ts';
import type { SliceChanges } from '../model/change-tracker.ts';
import { ProxyState } from '../model/proxy-state.ts';
import { renderRuleset } from '../modes.ts';
import { parseEndpointSlice, parseNode, parseService, parseServiceCIDR, selectedByProxy, SERVICE_NAME_LABEL, type Node, type Service } from '../watch/objects.ts';
import { rulesConfigFor } from '../config/rules-config.ts';

const USAGE = `usage: kpr render -f FILE|DIR [--proxy-mode MODE] [--hostname-override NODE] [kube-proxy flags]
Prints the ruleset kpr would program for the Services, EndpointSlices, ServiceCIDRs and Node in the
files (YAML or JSON), for each IP family, without touching the kernel.
`;

/** Takes -f/--filename out of argv (repeatable); the rest are kube-proxy flags. */
function splitFiles(argv: readonly string[]): { files: string[]; rest: string[] } {
  const files: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const eq = /^(?:-f|--filename)=(.*)$/.exec(a);
    if (eq) files.push(eq[1] ?? '');
    else if (a === '-f' || a === '--filename') files.push(argv[++i] ?? '');
    else rest.push(a);
  }
  return { files, rest };
}

export async function main(argv: string[]): Promise<number> {
  const { files, rest } = splitFiles(argv);
  if (rest.includes('--help') || rest.includes('-h') || files.length === 0) {
    process.stdout.write(USAGE);
    return files.length === 0 && !rest.includes('--help') && !rest.includes('-h') ? 2 : 0;
  }
  const log = createLogger('kpr-render', 'warn');
  let cfg;
  try {
    cfg = parseProxyArgs(rest);
  } catch (err) {
    process.stderr.write(`kpr render: ${errorMessage(err)}\n`);
    return 2;
  }
  const services = new Map<string, Service | null>();
  const slices: SliceChanges = new Map();
  let node: Node | undefined;
  const serviceCIDRs: string[] = [];
  for (const file of files) {
    for (const { source, object } of await loadObjects(file)) {
      // Same rule as the daemon: an invalid object is reported and skipped.
      try {
        if (object.kind === 'Service') {
          const svc = parseService(object);
          if (selectedByProxy(svc.metadata.labels)) services.set(`${svc.metadata.namespace}/${svc.metadata.name}`, svc);
        } else if (object.kind === 'EndpointSlice') {
          const s = parseEndpointSlice(object);
          if (!selectedByProxy(s.metadata.labels)) continue;
          const owner = `${s.metadata.namespace}/${s.metadata.labels[SERVICE_NAME_LABEL]}`;
          if (!slices.has(owner)) slices.set(owner, new Map());
          slices.get(owner)?.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
        } else if (object.kind === 'Node') {
          const n = parseNode(object);
          if (n.metadata.name === cfg.hostname) node = n;
        } else if (object.kind === 'ServiceCIDR') {
          serviceCIDRs.push(...parseServiceCIDR(object).spec.cidrs);
        }
      } catch (err) {
        log.warn({ source, err: errorMessage(err) }, 'skipping invalid object');
      }
    }
  }
  const families: IPFamily[] = [4, 6];
  const zone = node?.metadata.labels['topology.kubernetes.io/zone'] ?? '';
  const state = new ProxyState(families, { name: cfg.hostname, zone });
  state.apply(services, slices);
  // Without a kernel to ask, the Node's own addresses stand for the local ones.
  const nodeAddresses = (node?.status.addresses ?? []).map((a) => a.address);
  for (const family of families) {
    const snapshot = state.snapshot(family);
    if (!snapshot) continue;
    process.stdout.write(`# kpr ${cfg.mode} ruleset, IPv${family}, node ${cfg.hostname}\n`);
    process.stdout.write(renderRuleset(cfg.mode, snapshot, rulesConfigFor(cfg, family, node, nodeAddresses, serviceCIDRs), cfg));
  }
  return 0;
}
