import { describe, expect, it } from 'vitest';
import { renderIpvs } from './render.ts';
import { formatNames, parseNames } from './names.ts';
import { endpoint, servicePort, snapshot } from '../../test/support/proxy-model.ts';

describe('IPVS names file', () => {
  it('names every virtual server of a ServicePort, and reads back what it wrote', () => {
    const sp = servicePort('ns', 'web', { portName: 'p', clusterIP: '10.96.0.10', nodePort: 30080, externalIPs: ['198.51.100.1'] });
    const desired = renderIpvs({ snapshot: snapshot([[sp, [endpoint('10.244.1.5')]]]), scheduler: 'rr', nodeIP: '192.0.2.1', nodePortAddresses: ['192.0.2.1'], otherLocalAddresses: new Set() });
    const text = formatNames(desired.names);
    expect(Object.fromEntries(parseNames(text, 'f'))).toEqual({
      'tcp/10.96.0.10:80': 'ns/web:p', 'tcp/198.51.100.1:80': 'ns/web:p', 'tcp/192.0.2.1:30080': 'ns/web:p',
    });
    expect(formatNames(new Map([...desired.names].reverse()))).toBe(text);
  });

  it('names the file it cannot read', () => {
    expect(() => parseNames('{"services": 3}', '/run/kpr/ipvs-services-ipv4.json')).toThrow(/\/run\/kpr\/ipvs-services-ipv4.json: not a kpr IPVS names file/);
  });
});
