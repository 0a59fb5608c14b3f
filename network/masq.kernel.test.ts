// The masquerade sets in a real kernel: adjacent pod CIDRs stay separate elements, so a
// Node's pod CIDR going is one exact element delete that leaves its neighbours in place
// (an auto-merge set would have merged them into one interval and refused the delete).
import { afterAll, expect, it } from 'vitest';
import { NamespaceSet } from '../lab/netns.ts';
import { coverCIDRs, renderMasq, renderMasqElements } from './masq.ts';

const set = new NamespaceSet();
afterAll(() => set.destroyAll());

it('adds and deletes single pod CIDRs between adjacent ones; a failed element update changes nothing', async () => {
  const ns = await set.create('masq');
  const nft = (text: string, allowFailure = false) => ns.exec('nft', ['-f', '-'], { input: text, allowFailure });
  const elements = async (family: 4 | 6) => {
    const out = JSON.parse((await ns.exec('nft', ['-j', 'list', 'set', 'inet', 'kpr-network', `cluster${family}`])).stdout) as { nftables: { set?: { elem?: { prefix: { addr: string; len: number } }[] } }[] };
    return (out.nftables.find((x) => x.set)?.set?.elem ?? []).map((e) => `${e.prefix.addr}/${e.prefix.len}`).sort();
  };
  const nodes = ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24', '10.244.2.128/25', 'fd00:10:244:1::/64', 'fd00:10:244:2::/64'];
  await nft(renderMasq({ podCIDRs: { 4: '10.244.1.0/24', 6: 'fd00:10:244:1::/64' }, clusterCIDRs: coverCIDRs(nodes) }));
  expect(await elements(4)).toEqual(['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24']);

  await nft(renderMasqElements(['10.244.4.0/24', 'fd00:10:244:3::/64'], ['10.244.2.0/24', 'fd00:10:244:2::/64']));
  expect(await elements(4)).toEqual(['10.244.1.0/24', '10.244.3.0/24', '10.244.4.0/24']);
  expect(await elements(6)).toEqual(['fd00:10:244:1::/64', 'fd00:10:244:3::/64']);

  // Deleting what is not there (or adding an overlap) fails the whole transaction: the agent then replaces the table.
  expect((await nft(renderMasqElements(['10.244.5.0/24'], ['10.244.9.0/24']), true)).exitCode).not.toBe(0);
  expect((await nft(renderMasqElements(['10.244.3.128/25'], []), true)).exitCode).not.toBe(0);
  expect(await elements(4)).toEqual(['10.244.1.0/24', '10.244.3.0/24', '10.244.4.0/24']);
});
