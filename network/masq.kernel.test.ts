// The masquerade table in a real kernel: adjacent Node pod CIDRs are separate elements, so
// a Node's pod CIDR going is one exact element delete that leaves its neighbours in place
// (an auto-merge interval set would have merged them and refused the delete); a failed
// element update changes nothing (the agent then replaces the table).
import { afterAll, expect, it } from 'vitest';
import { NamespaceSet } from '../lab/netns.ts';
import { renderMasq, renderMasqElements } from './masq.ts';

const set = new NamespaceSet();
afterAll(() => set.destroyAll());

it('adds and deletes single pod CIDRs between adjacent ones; a failed element update changes nothing', async () => {
  const ns = await set.create('masq');
  const nft = (text: string, allowFailure = false) => ns.exec('nft', ['-f', '-'], { input: text, allowFailure });
  const elements = async (name: string) => {
    const out = JSON.parse((await ns.exec('nft', ['-j', 'list', 'set', 'inet', 'kpr-network', name])).stdout) as { nftables: { set?: { elem?: string[] } }[] };
    return [...(out.nftables.find((x) => x.set)?.set?.elem ?? [])].sort();
  };
  const nodes = ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24', '10.244.2.0/23', 'fd00:10:244:1::/64', 'fd00:10:244:2::/64'];
  await nft(renderMasq({ podCIDRs: { 4: '10.244.1.0/24', 6: 'fd00:10:244:1::/64' }, clusterCIDRs: [], nodeCIDRs: nodes }));
  expect(await elements('nodes4_24')).toEqual(['10.244.1.0', '10.244.2.0', '10.244.3.0']);
  expect(await elements('nodes4_23')).toEqual(['10.244.2.0']);

  await nft(renderMasqElements(['10.244.4.0/24', 'fd00:10:244:3::/64'], ['10.244.2.0/24', 'fd00:10:244:2::/64']));
  expect(await elements('nodes4_24')).toEqual(['10.244.1.0', '10.244.3.0', '10.244.4.0']);
  expect(await elements('nodes4_23')).toEqual(['10.244.2.0']);
  expect(await elements('nodes6_64')).toEqual(['fd00:10:244:1::', 'fd00:10:244:3::']);

  // Deleting what is not there, or a prefix length without its set, fails the whole transaction.
  expect((await nft(renderMasqElements(['10.244.5.0/24'], ['10.244.9.0/24']), true)).exitCode).not.toBe(0);
  expect((await nft(renderMasqElements(['10.244.6.0/25'], []), true)).exitCode).not.toBe(0);
  expect(await elements('nodes4_24')).toEqual(['10.244.1.0', '10.244.3.0', '10.244.4.0']);
});
