import { describe, expect, it } from 'vitest';
import { parseLocalAddresses } from './apply.ts';

// Shape of `ip -j addr show` (iproute2 6.1).
const JSON_OUT = JSON.stringify([
  { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }, { family: 'inet6', local: '::1', scope: 'host' }] },
  { ifname: 'eth0', addr_info: [{ family: 'inet', local: '192.168.0.2', scope: 'global' }, { family: 'inet6', local: 'fe80::1', scope: 'link' }, { family: 'inet6', local: '2001:db8:0::2', scope: 'global' }] },
  { ifname: 'kube-ipvs0', addr_info: [{ family: 'inet', local: '10.96.0.1', scope: 'global' }, { family: 'inet6', local: 'fd00::1', scope: 'global' }] },
  { ifname: 'dummy0' },
]);

describe('parseLocalAddresses', () => {
  it('splits kube-ipvs0 addresses from the node addresses, per family, without loopback and link-local', () => {
    expect(parseLocalAddresses(JSON_OUT, 4)).toEqual({ dummy: ['10.96.0.1'], others: ['192.168.0.2'] });
    expect(parseLocalAddresses(JSON_OUT, 6)).toEqual({ dummy: ['fd00::1'], others: ['2001:db8::2'] });
  });

  it('reports a missing kube-ipvs0 as undefined and rejects malformed output', () => {
    expect(parseLocalAddresses('[]', 4)).toEqual({ dummy: undefined, others: [] });
    expect(() => parseLocalAddresses('{"not":"a list"}', 4)).toThrow(/ip -j addr/);
  });
});
