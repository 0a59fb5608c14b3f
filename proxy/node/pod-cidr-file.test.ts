import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNode } from '../watch/objects.ts';
import { podCIDRsOf, writePodCIDRFile } from './pod-cidr-file.ts';

describe('pod CIDR file', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('takes spec.podCIDRs, else spec.podCIDR, normalised', () => {
    expect(podCIDRsOf(parseNode({ metadata: { name: 'n' }, spec: { podCIDRs: ['10.244.1.7/24', 'fd00:10:244:1::/64'] } }))).toEqual(['10.244.1.0/24', 'fd00:10:244:1::/64']);
    expect(podCIDRsOf(parseNode({ metadata: { name: 'n' }, spec: { podCIDR: '10.244.2.0/24' } }))).toEqual(['10.244.2.0/24']);
    expect(podCIDRsOf(parseNode({ metadata: { name: 'n' } }))).toEqual([]);
  });

  it('writes the JSON kpr-ipam reads, atomically, and only when it changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kpr-podcidr-'));
    dirs.push(dir);
    const file = join(dir, 'sub', 'podcidr.json');
    expect(await writePodCIDRFile(file, ['10.244.1.0/24'])).toBe(true);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ podCIDRs: ['10.244.1.0/24'] });
    expect(await writePodCIDRFile(file, ['10.244.1.0/24'])).toBe(false);
    expect(await writePodCIDRFile(file, ['10.244.3.0/24'])).toBe(true);
  });
});
