// The module boundaries of kpr as rules over the import graph, checked by a unit test
// (import-graph.test.ts) so that a wrong import fails CI instead of drifting in.
// Imports are read from the source text: static `import`/`export … from`, side-effect
// imports and dynamic `import('…')`. Type-only imports are left out: they vanish at
// build time and carry no code or I/O across a boundary.
import { dirname, join, normalize } from 'node:path';

export interface SourceFile {
  /** Repository-relative path with forward slashes, e.g. "proxy/sync.ts". */
  path: string;
  text: string;
}

export interface Violation {
  from: string;
  to: string;
  rule: string;
}

/** An import of a file: repository-relative path, or a package name ("execa", "node:fs"). */
interface Edge {
  from: string;
  to: string;
}

const IMPORT = /(?:^|[;\n])\s*(import|export)\s+(type\s+)?(?:[\w*{}\s,$]*?\s+from\s+)?['"]([^'"]+)['"]/g;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Files that exist for tests and benchmarks only; everything else ships. */
export function isTestCode(path: string): boolean {
  return /\.test\.ts$/.test(path) || /^(test|bench)\//.test(path) || path.includes('/testdata/') || path.startsWith('scripts/');
}

function topFolder(path: string): string {
  return path.includes('/') ? path.slice(0, path.indexOf('/')) : '';
}

/** Modules that do I/O: pure render and plan modules must reach none of them. */
const IO_PACKAGES = ['node:child_process', 'node:fs', 'node:fs/promises', 'node:net', 'node:http', 'node:dgram', 'execa', 'netlink', 'pino', '@kubernetes/client-node'];

/** Render and plan modules: turning desired state into ruleset text or operations, pure. */
export function isPureModule(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return !isTestCode(path) && !path.includes('/cmd/') && /^(render[\w-]*|[\w-]*plan[\w-]*|planner|diff)\.ts$/.test(base);
}

export function importEdges(file: SourceFile): Edge[] {
  const specs: string[] = [];
  for (const m of file.text.matchAll(IMPORT)) if (!m[2]) specs.push(m[3]!);
  for (const m of file.text.matchAll(DYNAMIC_IMPORT)) specs.push(m[1]!);
  return specs.map((spec) => ({
    from: file.path,
    to: spec.startsWith('.') ? normalize(join(dirname(file.path), spec)) : spec.replace(/^fs$/, 'node:fs'),
  }));
}

const SIDES: Record<string, readonly string[]> = {
  // The ClusterIP side and the pod-IP side never import each other.
  proxy: ['cni', 'ipam', 'network'],
  cni: ['proxy'],
  ipam: ['proxy', 'cni'],
  network: ['proxy'],
  // The neutral module depends on no module of the product.
  lib: ['proxy', 'cni', 'ipam', 'network', 'lab', 'apiserver', 'bin'],
};

function boundaryViolations(e: Edge): Violation[] {
  const out: Violation[] = [];
  const fromTop = topFolder(e.from);
  const toTop = topFolder(e.to);
  if (SIDES[fromTop]?.includes(toTop)) out.push({ ...e, rule: `${fromTop}/ must not import ${toTop}/` });
  if (fromTop === 'cni' && toTop === 'ipam' && e.to !== 'ipam/index.ts') out.push({ ...e, rule: 'cni/ reaches ipam/ only through ipam/index.ts' });
  if (!isTestCode(e.from) && toTop === 'test') out.push({ ...e, rule: 'product code must not import test/' });
  // client-node is the API client: lib/kube/ is the one neutral place that may use it.
  if (fromTop === 'lib' && !e.from.startsWith('lib/kube/') && e.to === '@kubernetes/client-node') {
    out.push({ ...e, rule: 'in lib/, only lib/kube/ uses @kubernetes/client-node' });
  }
  return out;
}

/** A pure module's transitive imports within the repository must reach no I/O package. */
function purityViolations(files: ReadonlyMap<string, Edge[]>): Violation[] {
  const out: Violation[] = [];
  for (const start of files.keys()) {
    if (!isPureModule(start)) continue;
    const seen = new Set<string>([start]);
    const queue = [start];
    while (queue.length > 0) {
      const at = queue.shift()!;
      for (const e of files.get(at) ?? []) {
        if (IO_PACKAGES.includes(e.to)) out.push({ from: start, to: e.to, rule: `pure module reaches I/O (via ${at})` });
        else if (files.has(e.to) && !seen.has(e.to)) {
          seen.add(e.to);
          queue.push(e.to);
        }
      }
    }
  }
  return out;
}

export function checkImportGraph(sources: readonly SourceFile[]): Violation[] {
  const files = new Map(sources.map((f) => [f.path, importEdges(f)]));
  return [...[...files.values()].flat().flatMap(boundaryViolations), ...purityViolations(files)];
}
