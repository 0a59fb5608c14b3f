import { describe, expect, it } from 'vitest';
import { KprError } from '../../lib/errors.ts';
import { parseEndpointSlice, parseService, parseServiceCIDR, SERVICE_NAME_LABEL } from './objects.ts';

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

// The attack of issue 12: object names that become ruleset text.
const IPTABLES_ATTACK = 'p\nCOMMIT\n*filter\n-I INPUT 1 -j ACCEPT\nCOMMIT\n*nat';
const NFT_ATTACK = 'p\nflush ruleset\n';

const service = (metadata: Record<string, unknown>, ports: unknown[] = [{ name: 'http', port: 80 }]) => ({
  apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'ns', name: 'web', ...metadata }, spec: { clusterIP: '10.96.0.10', ports },
});
const slice = (metadata: Record<string, unknown>, ports: unknown[] = [{ name: 'http', port: 8080 }]) => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.5'] }], ports,
  metadata: { namespace: 'ns', name: 'web-abc12', labels: { [SERVICE_NAME_LABEL]: 'web' }, ...metadata },
});

describe('names at the edge, as Kubernetes validates them', () => {
  it('refuses the injection strings of issue 12 in port names, naming the object and the field', () => {
    for (const attack of [IPTABLES_ATTACK, NFT_ATTACK]) {
      expect(() => parseService(service({}, [{ name: attack, port: 80 }]))).toThrow(/Service ns\/web.*spec\.ports\.0\.name: must be empty or a DNS-1123 label/);
      expect(() => parseEndpointSlice(slice({}, [{ name: attack, port: 8080 }]))).toThrow(/EndpointSlice ns\/web-abc12.*ports\.0\.name: must be empty or a DNS-1123 label/);
    }
  });

  it('refuses hostile names and namespaces of Services and EndpointSlices', () => {
    for (const bad of [IPTABLES_ATTACK, NFT_ATTACK, 'web"', 'a\\b', 'a b', 'a#b', 'Web', '-web', 'web-', 'wéb', 'a.b', 'x'.repeat(64), '']) {
      expect(() => parseService(service({ name: bad })), JSON.stringify(bad)).toThrow(/metadata\.name/);
      expect(() => parseService(service({ namespace: bad })), JSON.stringify(bad)).toThrow(/metadata\.namespace/);
      expect(() => parseEndpointSlice(slice({ namespace: bad })), JSON.stringify(bad)).toThrow(/metadata\.namespace/);
    }
    for (const bad of [IPTABLES_ATTACK, NFT_ATTACK, 'a..b', '.a', 'a.', 'A.b', 'a_b', `${'x'.repeat(63)}.${'y'.repeat(63)}.${'z'.repeat(63)}.${'w'.repeat(63)}`]) {
      expect(() => parseEndpointSlice(slice({ name: bad })), JSON.stringify(bad)).toThrow(/metadata\.name: must be (a DNS-1123 subdomain|no more than 253)/);
    }
  });

  it('accepts what Kubernetes accepts, at the length limits', () => {
    const label63 = `a${'-'.repeat(61)}z`;
    const sub253 = [`${'a'.repeat(63)}`, 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.');
    expect(parseService(service({ name: label63, namespace: label63 }, [{ name: label63, port: 80 }])).spec.ports[0]?.name).toBe(label63);
    // Service names may start with a digit under RelaxedServiceNameValidation.
    expect(parseService(service({ name: '1web' })).metadata.name).toBe('1web');
    expect(parseService(service({}, [{ port: 80 }])).spec.ports[0]?.name).toBe('');
    expect(parseEndpointSlice(slice({ name: sub253 }, [{ name: '', port: 80 }, { name: null, port: 81 }])).metadata.name).toBe(sub253);
  });

  it('requires unique port names, present when a Service has several ports', () => {
    expect(() => parseService(service({}, [{ port: 80 }, { name: 'b', port: 81 }]))).toThrow(/spec\.ports\.0\.name: required/);
    expect(() => parseService(service({}, [{ name: 'a', port: 80 }, { name: 'a', port: 81 }]))).toThrow(/spec\.ports\.1\.name: duplicate port name "a"/);
  });
});
