// The VTEP MAC annotations reach the Node through a JSON merge patch, against the
// embedded API server's real wire protocol.
import { describe, expect, it } from 'vitest';
import { testServer } from '../test/support/apiserver.ts';
import { nodePatcher } from './node-api.ts';

describe('nodePatcher', () => {
  it('sets and removes kpr.io annotations with a merge patch, leaving the others', async () => {
    const api = await testServer({ objects: [{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', annotations: { 'other.io/keep': 'x' } } }] });
    const patch = nodePatcher(api.kubeConfig(), 'n1');
    await patch({ 'kpr.io/vxlan-vtep-mac': '0a:00:00:00:00:01', 'kpr.io/vxlan6-vtep-mac': '0a:00:00:00:00:02' });
    const annotations = () => (api.get('Node', undefined, 'n1') as { metadata: { annotations?: Record<string, string> } }).metadata.annotations;
    expect(annotations()).toEqual({ 'other.io/keep': 'x', 'kpr.io/vxlan-vtep-mac': '0a:00:00:00:00:01', 'kpr.io/vxlan6-vtep-mac': '0a:00:00:00:00:02' });
    await patch({ 'kpr.io/vxlan6-vtep-mac': null });
    expect(annotations()).toEqual({ 'other.io/keep': 'x', 'kpr.io/vxlan-vtep-mac': '0a:00:00:00:00:01' });
  });

  it('fails for a Node that does not exist', async () => {
    const api = await testServer();
    await expect(nodePatcher(api.kubeConfig(), 'nope')({ 'kpr.io/vxlan-vtep-mac': 'x' })).rejects.toThrow(/404|not found/i);
  });
});
