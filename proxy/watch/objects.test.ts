import { describe, expect, it } from 'vitest';
import { KprError } from '../../lib/errors.ts';
import { parseServiceCIDR } from './objects.ts';

const serviceCIDR = (spec: unknown) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'kubernetes' }, spec });

describe('parseServiceCIDR', () => {
  it('reads the name and the CIDRs, in canonical form', () => {
    expect(parseServiceCIDR(serviceCIDR({ cidrs: ['10.96.0.1/16', 'FD00:96::/112'] }))).toEqual({
      metadata: { name: 'kubernetes' },
      spec: { cidrs: ['10.96.0.0/16', 'fd00:96::/112'] },
    });
  });

  it('takes a missing spec or cidrs as no CIDRs', () => {
    expect(parseServiceCIDR({ metadata: { name: 'empty' } }).spec.cidrs).toEqual([]);
    expect(parseServiceCIDR(serviceCIDR({})).spec.cidrs).toEqual([]);
  });

  it('refuses an invalid CIDR or a nameless object, naming the object and the field', () => {
    expect(() => parseServiceCIDR(serviceCIDR({ cidrs: ['10.96.0.0/16', '10.96.0.0/33'] }))).toThrow(KprError);
    expect(() => parseServiceCIDR(serviceCIDR({ cidrs: ['nope'] }))).toThrow(/ServiceCIDR kubernetes.*spec\.cidrs\.0: "nope" is not a CIDR/);
    expect(() => parseServiceCIDR({ metadata: {}, spec: { cidrs: [] } })).toThrow(/metadata\.name/);
  });
});
