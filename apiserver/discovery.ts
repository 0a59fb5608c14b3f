// Discovery documents (/api, /apis, /api/v1, ...) and /version, built from the resource table.
import { RESOURCES } from './resources.ts';

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

function resourceList(gv: string): object {
  const resources = RESOURCES.filter((r) => r.apiVersion === gv).flatMap((r) => {
    const main = { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: VERBS, ...(r.shortNames.length ? { shortNames: r.shortNames } : {}) };
    const status = { name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] };
    return r.hasStatus ? [main, status] : [main];
  });
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources };
}

function groups(): object[] {
  const names = [...new Set(RESOURCES.filter((r) => r.group !== '').map((r) => r.group))].sort();
  return names.map((name) => {
    const versions = [...new Set(RESOURCES.filter((r) => r.group === name).map((r) => r.version))]
      .map((version) => ({ groupVersion: `${name}/${version}`, version }));
    return { name, versions, preferredVersion: versions[0] };
  });
}

/** The discovery or version document at `path`, or undefined if `path` is not one. */
export function discoveryDocument(path: string, serverAddress: string): object | undefined {
  const p = path.replace(/\/+$/, '');
  if (p === '/version') {
    return {
      major: '1', minor: '34', gitVersion: 'v1.34.0-kpr', gitCommit: '', gitTreeState: 'clean', buildDate: '',
      goVersion: '', compiler: 'kpr', platform: `${process.platform}/${process.arch}`,
    };
  }
  if (p === '/api') {
    return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
  }
  if (p === '/api/v1') return resourceList('v1');
  if (p === '/apis') return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups() };
  const m = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(p);
  if (!m) return undefined;
  const group = groups().find((g) => (g as { name: string }).name === m[1]);
  if (!group) return undefined;
  if (m[2] === undefined) return { kind: 'APIGroup', apiVersion: 'v1', ...group };
  const gv = `${m[1]}/${m[2]}`;
  return RESOURCES.some((r) => r.apiVersion === gv) ? resourceList(gv) : undefined;
}
