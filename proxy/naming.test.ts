import { describe, expect, it } from 'vitest';
import { hashPrefix } from './naming.ts';

// Golden vectors from upstream kube-proxy's tests (reference §2.3 and §3.1).
describe('hashPrefix', () => {
  it.each([
    ['ns1/svc1:p80tcp', 16, 'XPGD46QRK7WJZT7O'],
    ['ns1/svc1:p80tcp10.180.0.1:80', 16, 'SXIVWICOYRO3J4NJ'],
    ['ns2/svc2:p80tcp', 16, 'GNZBNJ2PO5MGZ6GT'],
    ['ns3/svc3:p80tcp', 16, 'X27LE4BHSL4DOUIK'],
    ['ns3/svc3:p80tcp10.180.0.3:80', 16, 'OYPFS5VJICHGATKP'],
    ['ns1/svc1/tcp/p80', 8, 'ULMVA6XW'],
    ['ns1/svc1/tcp/p80__10.180.0.1/80', 8, '5OJB2KTY'],
    ['ns4/svc4/tcp/p80', 8, 'LAUZTJTB'],
  ])('%s -> %s', (input, len, want) => {
    expect(hashPrefix(input, len)).toBe(want);
  });
});
