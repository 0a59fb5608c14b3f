import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadObjects, parseObjects } from './object-files.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kpr-apiserver-objects-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const YAML = `# leading comment
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 80, protocol: TCP}]
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: node-a}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-1, namespace: default}
  addressType: IPv4
  endpoints: [{addresses: [10.0.0.1], conditions: {ready: true}}]
---
`;

describe('parseObjects', () => {
  it('reads multi-document YAML, skips empty documents and flattens Lists into plain JSON', () => {
    const got = parseObjects(YAML, 'lab.yaml');
    expect(got.map((o) => o.source)).toEqual(['lab.yaml document 2', 'lab.yaml document 3 item 1', 'lab.yaml document 3 item 2']);
    expect(got[0]?.object).toEqual({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
      spec: { clusterIP: '10.96.0.10', ports: [{ port: 80, protocol: 'TCP' }] },
    });
    expect(Object.getPrototypeOf(got[2]?.object)).toBe(Object.prototype);
  });

  it('keeps JSON exactly as written, malformed specs included', () => {
    const json = JSON.stringify({ kind: 'List', apiVersion: 'v1', items: [{ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'x', namespace: 'd' }, endpoints: 'garbage', extra: 1 }] });
    expect(parseObjects(json, 'bad.json')).toEqual([{ source: 'bad.json item 1', object: expect.objectContaining({ endpoints: 'garbage', extra: 1 }) }]);
  });

  it('names the file and document of an error', () => {
    expect(() => parseObjects('apiVersion: v1\nkind: Node\n---\nkey: [unclosed\n', 'x.yaml')).toThrow(/x\.yaml document 2: invalid YAML/);
    expect(() => parseObjects('apiVersion: v1\nkind: Node\n---\nmetadata: {name: a}\n', 'y.yaml')).toThrow(/y\.yaml document 2: not a Kubernetes object/);
    expect(() => parseObjects('{', 'z.json')).toThrow(/z\.json: invalid JSON/);
  });
});

describe('loadObjects', () => {
  it('loads a directory in name order, ignoring other files', async () => {
    await writeFile(join(dir, 'b.yaml'), YAML);
    await writeFile(join(dir, 'a.json'), JSON.stringify([{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'first' } }]));
    await writeFile(join(dir, 'notes.txt'), 'not objects');
    const got = await loadObjects(dir);
    expect(got.map((o) => (o.object.metadata as { name: string }).name)).toEqual(['first', 'web', 'node-a', 'web-1']);
    expect((await loadObjects(join(dir, 'a.json'))).length).toBe(1);
    await expect(loadObjects(join(dir, 'missing'))).rejects.toThrow(/missing: cannot read objects/);
  });
});
