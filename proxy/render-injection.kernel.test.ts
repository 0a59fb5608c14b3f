// Issue 12's fuzz test: random Services and EndpointSlices with random names (valid,
// hostile, very long) go through every mode's renderer, once through the edge the
// daemon uses (parseService/parseEndpointSlice, which must refuse the hostile ones) and
// once past it (typed objects carrying the names, for the renderers' own defence). The
// kernel must take every ruleset, and what it holds must be exactly the ruleset of the
// same objects with plain names: no rule, chain, table or set more or less.
// KPR_FUZZ_SEED=<seed> reproduces a run; the seed is in the test's name and every message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KprError } from '../lib/errors.ts';
import type { IPFamily } from '../lib/ip.ts';
import { Rng, objectsOf, plainNames, randomNames, randomShape, type Names } from '../test/support/hostile-objects.ts';
import { rulesConfig } from '../test/support/flows-fixture.ts';
import type { Obj } from '../lab/objects.ts';
import { NamespaceSet, type Netns } from '../lab/netns.ts';
import { renderRuleset as renderIptables } from './iptables/ruleset.ts';
import { parseIpvsadmSave } from './ipvs/ipvsadm.ts';
import { renderRuleset as renderIpvs } from './ipvs/ruleset.ts';
import type { SliceChanges } from './model/change-tracker.ts';
import { ProxyState } from './model/proxy-state.ts';
import type { ProxySnapshot } from './model/types.ts';
import { renderRuleset as renderNftables } from './nftables/ruleset.ts';
import { parseEndpointSlice, parseService, SERVICE_NAME_LABEL, type EndpointSlice, type Service } from './watch/objects.ts';

const SEED = Number(process.env.KPR_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const ROUNDS = 2;
const SERVICES = 30;
const NODE = 'node-a';
const FAMILIES: readonly IPFamily[] = [4, 6];

/** The namespace programmed from the random names and the one from the plain names. */
interface Nodes {
  hostile: Netns;
  plain: Netns;
}

interface Pair {
  hostile: ProxyState;
  plain: ProxyState;
}

/** One Service with its slices, as raw objects with random names and with plain ones. */
interface Case {
  random: Names;
  hostile: { service: Obj; slices: Obj[] };
  plain: { service: Obj; slices: Obj[] };
}

function generate(r: Rng): Case[] {
  const cases: Case[] = [];
  const taken = new Set<string>();
  while (cases.length < SERVICES) {
    const shape = randomShape(r, cases.length + 1);
    const random = randomNames(r, shape);
    // Distinct Services must stay distinct, as the API server keeps them.
    const svc = `${random.namespace}/${random.name}`;
    const keys = new Set([svc, `${random.namespace}/${random.slice}-4`, `${random.namespace}/${random.slice}-6`, ...random.ports.map((p) => (p ? `${svc}:${p}` : svc))]);
    if ([...keys].some((k) => taken.has(k))) continue;
    for (const k of keys) taken.add(k);
    cases.push({ random, hostile: objectsOf(shape, random, NODE), plain: objectsOf(shape, plainNames(cases.length, random), NODE) });
  }
  return cases;
}

/**
 * The issue's port names, the iptables one completed so that the rest of its line makes
 * a valid rule (before the fix, a --noflush restore of it put ACCEPTs at the top of
 * INPUT); the nftables one on a Service with ClientIP affinity, whose nft names carry it.
 */
function issueCases(r: Rng): Case[][] {
  const attacks = ['p\nCOMMIT\n*filter\n-I INPUT 1 -j ACCEPT\nCOMMIT\n*nat\n-A KUBE-MARK-MASQ -m comment --comment "x', 'p\nflush ruleset\n'];
  return attacks.map((attack, i) => {
    const shape = { ...randomShape(r, i + 1), affinity: i === 1 };
    shape.ports = shape.ports.slice(0, 1);
    const random: Names = { namespace: 'ns', name: `web${i}`, ports: [attack], slice: `web${i}-abc` };
    return [{ random, hostile: objectsOf(shape, random, NODE), plain: objectsOf(shape, plainNames(i, random), NODE) }];
  });
}

function stateOf(services: readonly Service[], slices: readonly EndpointSlice[]): ProxyState {
  const st = new ProxyState([4, 6], { name: NODE, zone: '' });
  const changes: SliceChanges = new Map();
  for (const s of slices) {
    const owner = `${s.metadata.namespace}/${s.metadata.labels[SERVICE_NAME_LABEL]}`;
    if (!changes.has(owner)) changes.set(owner, new Map());
    changes.get(owner)?.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
  }
  st.apply(new Map(services.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s])), changes);
  return st;
}

const tryParse = <T>(parse: (raw: unknown) => T, raw: unknown): T | undefined => {
  try {
    return parse(raw);
  } catch {
    return undefined;
  }
};

/** Names that could reach a ruleset after the edge: Kubernetes' charset, within its lengths. */
const SAFE_LABEL = /^[a-z0-9-]{1,63}$/;
const SAFE_SUBDOMAIN = /^[a-z0-9.-]{1,253}$/;

/** Through the daemon's edge: hostile objects are refused, the others are programmed as their plain twins. */
function throughEdge(cases: readonly Case[], where: string): Pair & { refused: number; kept: number } {
  const hostile: [Service[], EndpointSlice[]] = [[], []];
  const plain: [Service[], EndpointSlice[]] = [[], []];
  let refused = 0;
  for (const c of cases) {
    const svc = tryParse(parseService, c.hostile.service);
    if (svc) {
      for (const n of [svc.metadata.namespace, svc.metadata.name]) expect(n, where).toMatch(SAFE_LABEL);
      for (const p of svc.spec.ports) expect(p.name, where).toMatch(/^[a-z0-9-]{0,63}$/);
      hostile[0].push(svc);
      plain[0].push(parseService(c.plain.service));
    } else refused++;
    c.hostile.slices.forEach((raw, k) => {
      const slice = tryParse(parseEndpointSlice, raw);
      if (!slice) return void refused++;
      expect(slice.metadata.namespace, where).toMatch(SAFE_LABEL);
      expect(slice.metadata.name, where).toMatch(SAFE_SUBDOMAIN);
      for (const p of slice.ports) expect(p.name ?? '', where).toMatch(/^[a-z0-9-]{0,63}$/);
      hostile[1].push(slice);
      plain[1].push(parseEndpointSlice(c.plain.slices[k]));
    });
  }
  return { hostile: stateOf(...hostile), plain: stateOf(...plain), refused, kept: hostile[0].length };
}

/** Past the edge: the plain objects, validated, then given the random names as typed objects. */
function pastEdge(cases: readonly Case[]): Pair {
  const hostile: [Service[], EndpointSlice[]] = [[], []];
  const plain: [Service[], EndpointSlice[]] = [[], []];
  for (const c of cases) {
    const { namespace, name, ports } = c.random;
    const svc = parseService(c.plain.service);
    plain[0].push(svc);
    hostile[0].push({ ...svc, metadata: { ...svc.metadata, namespace, name }, spec: { ...svc.spec, ports: svc.spec.ports.map((p, j) => ({ ...p, name: ports[j] ?? '' })) } });
    c.plain.slices.forEach((raw, k) => {
      const slice = parseEndpointSlice(raw);
      plain[1].push(slice);
      hostile[1].push({
        ...slice,
        metadata: { ...slice.metadata, namespace, name: `${c.random.slice}-${k === 0 ? 4 : 6}`, labels: { ...slice.metadata.labels, [SERVICE_NAME_LABEL]: name } },
        ports: slice.ports.map((p, j) => ({ ...p, name: ports[j] ?? '' })),
      });
    });
  }
  return { hostile: stateOf(...hostile), plain: stateOf(...plain) };
}

// ---- what the kernel holds, with the names taken out ----

/** iptables-save lines, sorted, with comments and hashed chain names replaced by placeholders. */
function iptablesView(save: string): string[] {
  return save
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) =>
      l
        .replace(/ \[\d+:\d+\]$/, '')
        .replace(/--comment ("(?:[^"\\]|\\.)*"|\S+)/g, '--comment C')
        .replace(/KUBE-(SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}/g, 'KUBE-$1-H'),
    )
    .sort();
}

/** Rules in built-in chains that do not jump to one of kpr's chains (an injected ACCEPT would be one). */
function foreignRules(save: string): string[] {
  return save.split('\n').filter((l) => /^-[AI] (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) /.test(l) && !/ -j KUBE-[A-Z0-9-]+$/.test(l));
}

const NFT_HASHED = /\b(service|local|endpoint|affinity)-[A-Z2-7]{8}(?:[A-Z2-7]{8})?-[A-Za-z0-9_./-]*/g;

/** `nft -j list ruleset` as sorted entries (tables, chains, rules, sets and each element), affinity names and element comments replaced. */
function nftView(json: string): string[] {
  const out: string[] = [];
  for (const item of (JSON.parse(json) as { nftables: Record<string, Record<string, unknown>>[] }).nftables) {
    const [kind, o] = Object.entries(item)[0] ?? [];
    if (!kind || !o || kind === 'metainfo') continue;
    const { handle: _h, elem, ...rest } = o;
    out.push(`${kind} ${JSON.stringify(rest)}`.replace(NFT_HASHED, '$1-H'));
    if (Array.isArray(elem)) {
      for (const e of elem) out.push(`${kind} ${String(o.name)} element ${JSON.stringify(e)}`.replace(NFT_HASHED, '$1-H').replace(/"comment":"(?:[^"\\]|\\.)*"/g, '"comment":"C"'));
    }
  }
  return out.sort();
}

/** The text under one "# heading" of the IPVS ruleset. */
function section(text: string, heading: string): string {
  const start = text.indexOf(`${heading}\n`);
  if (start < 0) throw new Error(`no "${heading}" in the IPVS ruleset`);
  const body = text.slice(start + heading.length + 1);
  const end = body.search(/^# /m);
  return end < 0 ? body : body.slice(0, end);
}

describe(`kpr rulesets from random names (KPR_FUZZ_SEED=${SEED})`, () => {
  const set = new NamespaceSet();
  /** A pair of node namespaces per mode, so that the modes are checked side by side. */
  const nodes = new Map<'iptables' | 'nftables' | 'ipvs', Nodes>();
  beforeAll(async () => {
    for (const mode of ['iptables', 'nftables', 'ipvs'] as const) nodes.set(mode, { hostile: await set.create(`${mode}-h`), plain: await set.create(`${mode}-p`) });
  });
  afterAll(async () => set.destroyAll());

  const both = <T>(ns: Nodes, f: (which: 'hostile' | 'plain', n: Netns) => Promise<T>) => Promise.all([f('hostile', ns.hostile), f('plain', ns.plain)]);
  const reset = (ns: Nodes) => both(ns, async (_w, n) => {
    await n.exec('nft', ['flush', 'ruleset']);
    await n.exec('ipset', ['destroy']);
  });
  const node = (mode: 'iptables' | 'nftables' | 'ipvs'): Nodes => {
    const n = nodes.get(mode);
    if (!n) throw new Error(`no namespaces for ${mode}`);
    return n;
  };
  const snap = (st: ProxyState, family: IPFamily): ProxySnapshot => {
    const s = st.snapshot(family);
    if (!s) throw new Error(`no IPv${family} snapshot`);
    return s;
  };
  const restore = (family: IPFamily) => (family === 4 ? 'iptables-restore' : 'ip6tables-restore');
  const save = (n: Netns) => Promise.all(FAMILIES.map(async (f) => (await n.exec(f === 4 ? 'iptables-save' : 'ip6tables-save', [])).stdout));

  /** iptables-restore --test, then the restore itself, of the hostile text; the plain text alongside. */
  async function iptablesRestore(ns: Nodes, texts: Record<'hostile' | 'plain', string>, family: IPFamily): Promise<void> {
    await ns.hostile.exec(restore(family), ['--test', '--noflush'], { input: texts.hostile });
    await both(ns, (w, n) => n.exec(restore(family), ['--noflush'], { input: texts[w] }));
  }

  async function compareIptables(ns: Nodes, where: string): Promise<void> {
    const [hostile, plain] = await both(ns, (_w, n) => save(n));
    FAMILIES.forEach((f, k) => {
      expect(foreignRules(hostile[k] ?? ''), `${where}: IPv${f} built-in chains`).toEqual([]);
      expect(iptablesView(hostile[k] ?? ''), `${where}: IPv${f} iptables-save`).toEqual(iptablesView(plain[k] ?? ''));
    });
  }

  async function checkIptables(ns: Nodes, pair: Pair, where: string): Promise<void> {
    for (const family of FAMILIES) {
      // The test's namespaces have no nfacct objects: render for a node without them.
      const render = (st: ProxyState) => renderIptables(snap(st, family), rulesConfig(family), { randomFully: true, nfacct: new Set() });
      await iptablesRestore(ns, { hostile: render(pair.hostile), plain: render(pair.plain) }, family);
    }
    await compareIptables(ns, `${where} iptables mode`);
    await reset(ns);
  }

  async function checkNftables(ns: Nodes, pair: Pair, where: string): Promise<void> {
    const render = (st: ProxyState) => FAMILIES.map((f) => renderNftables(snap(st, f), rulesConfig(f))).join('');
    const texts = { hostile: render(pair.hostile), plain: render(pair.plain) };
    await ns.hostile.exec('nft', ['-c', '-f', '-'], { input: texts.hostile });
    await both(ns, (w, n) => n.exec('nft', ['-f', '-'], { input: texts[w] }));
    const [hostile, plain] = await both(ns, async (_w, n) => nftView((await n.exec('nft', ['-j', 'list', 'ruleset'])).stdout));
    expect(hostile.filter((e) => e.startsWith('table ')), `${where} nftables mode: tables`).toEqual(['table {"family":"ip","name":"kpr"}', 'table {"family":"ip6","name":"kpr"}']);
    expect(hostile, `${where} nftables mode`).toEqual(plain);
    await reset(ns);
  }

  async function checkIpvs(ns: Nodes, pair: Pair, where: string): Promise<void> {
    for (const family of FAMILIES) {
      const render = (st: ProxyState) => renderIpvs(snap(st, family), rulesConfig(family));
      const texts = { hostile: render(pair.hostile), plain: render(pair.plain) };
      // The IPVS mode writes no names at all: its text must not change with them.
      expect(texts.hostile.split('\n').sort(), `${where} IPVS mode IPv${family}`).toEqual(texts.plain.split('\n').sort());
      // ipvsadm -R input cannot be loaded without IP_VS: it must at least parse back.
      const table = section(texts.hostile, '# ipvsadm -R');
      expect(parseIpvsadmSave(table).length, `${where} IPVS IPv${family} virtual servers`).toBe(table.split('\n').filter((l) => l.startsWith('-A ')).length);
      await both(ns, (w, n) => n.exec('ipset', ['restore', '-exist'], { input: section(texts[w], '# ipset restore -exist') }));
      // This kernel has no IP_VS, so no `-m ipvs` match (the VM tests load those rules); their
      // text is compared with the plain names' above.
      const iptables = (w: 'hostile' | 'plain') => section(texts[w], `# ${restore(family)} --noflush`).split('\n').filter((l) => !l.includes(' -m ipvs ')).join('\n');
      await iptablesRestore(ns, { hostile: iptables('hostile'), plain: iptables('plain') }, family);
    }
    // Each set gets a random hash seed (initval): not part of what was asked for.
    const [hostileSets, plainSets] = await both(ns, async (_w, n) => (await n.exec('ipset', ['save'])).stdout.replace(/ initval 0x[0-9a-f]+/g, '').split('\n').sort());
    expect(hostileSets, `${where} IPVS mode ipsets`).toEqual(plainSets);
    await compareIptables(ns, `${where} IPVS mode`);
    await reset(ns);
  }

  it('parses on the kernel and holds exactly what the objects asked for, through the edge and past it', async () => {
    const r = new Rng(SEED);
    let refused = 0;
    let kept = 0;
    const rounds = [...issueCases(r), ...Array.from({ length: ROUNDS }, () => generate(r))];
    for (const [round, cases] of rounds.entries()) {
      for (const [path, pair] of [['through the edge', throughEdge(cases, `seed ${SEED} round ${round}`)], ['past the edge', pastEdge(cases)]] as const) {
        const where = `seed ${SEED} round ${round}${round < 2 ? ' (the issue\'s objects)' : ''}, ${path}:`;
        if ('refused' in pair) {
          refused += pair.refused;
          kept += pair.kept;
        }
        await Promise.all([
          checkIptables(node('iptables'), pair, where),
          checkNftables(node('nftables'), pair, where),
          checkIpvs(node('ipvs'), pair, where),
        ]).catch((err: unknown) => {
          // A tool refusing a ruleset: say which run it was.
          throw err instanceof KprError ? new Error(`${where} ${err.message}`, { cause: err }) : err;
        });
      }
    }
    // The generator must have produced hostile names that the edge refused, and valid ones it kept.
    expect(refused, `seed ${SEED}: objects refused`).toBeGreaterThan(0);
    expect(kept, `seed ${SEED}: Services kept`).toBeGreaterThan(0);
  }, 120_000);
});
