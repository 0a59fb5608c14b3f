import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KprError } from '../lib/errors.ts';
import { DEFAULT_DATA_DIR, parseIpamConfig } from './config.ts';
import { parseGoDuration } from '../lib/duration.ts';

function configError(raw: unknown, name = 'net'): KprError {
  try {
    parseIpamConfig(raw, name);
  } catch (err) {
    if (err instanceof KprError) return err;
    throw err;
  }
  throw new Error('expected parseIpamConfig to throw');
}

describe('parseIpamConfig errors name the key', () => {
  it.each([
    [{ ranges: [[{ subnet: 42 }]] }, 'ipam.ranges[0][0].subnet: expected a CIDR'],
    [{ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/300' }]] }, 'ipam.ranges[1][0].subnet: expected a CIDR'],
    [{ ranges: [[{ subnet: '10.0.0.0/24', gateway: 'gw' }]] }, 'ipam.ranges[0][0].gateway: expected an IP address'],
    [{ ranges: [[]] }, 'ipam.ranges[0]: expected at least one range'],
    [{ ranges: 'x' }, 'ipam.ranges: expected an array of range sets'],
    [{ subnet: '10.0.0.0/24', sticky: 'yes' }, 'ipam.sticky: expected true or false'],
    [{ subnet: '10.0.0.0/24', stickyTTL: '5 parsecs' }, 'ipam.stickyTTL: expected a positive duration such as "24h" or "90m"'],
    [{ subnet: '10.0.0.0/24', stickyTTL: 3600 }, 'ipam.stickyTTL: expected a duration such as "24h"'],
    [{ subnet: '10.0.0.0/24', routes: [{ dst: '0.0.0.0/0' }, { dst: 'default' }] }, 'ipam.routes[1].dst: expected a CIDR'],
    [{ subnet: '10.0.0.0/24', dataDir: 7 }, 'ipam.dataDir: expected a path'],
    [{ subnet: '10.0.0.0/24', gateway: '10.0.1.1' }, 'ipam.gateway: 10.0.1.1 is not in subnet 10.0.0.0/24'],
    [{ ranges: [[{ subnet: '10.0.0.0/24', rangeStart: 'fd00::1' }]] }, 'ipam.ranges[0][0].rangeStart: fd00::1 is not in subnet 10.0.0.0/24'],
    [{ ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.9', rangeEnd: '10.0.0.3' }]] }, 'ipam.ranges[0][0]: rangeStart 10.0.0.9 is after rangeEnd 10.0.0.3'],
    [{ ranges: [[{ subnet: '10.0.0.0/31' }]] }, 'ipam.ranges[0][0].subnet: 10.0.0.0/31 is too small to allocate from'],
    [{ ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]] }, 'ipam.ranges[0][1]: mixes IPv4 and IPv6 in one range set'],
    [{ ranges: [[{ subnet: '10.0.0.0/16' }], [{ subnet: '10.0.3.0/24' }]] }, 'ipam.ranges[1][0]: overlaps ipam.ranges[0][0]'],
    [{ type: 'kpr-ipam' }, 'ipam: no addresses to allocate: set ranges, subnet or podCIDRFile'],
    [undefined, 'ipam: expected object'],
  ])('%j', (raw, message) => {
    const err = configError(raw);
    expect(err.code).toBe('INVALID_CONFIG');
    expect(err.message).toBe(message);
  });

  it('refuses a network name that is not a safe directory name', () => {
    expect(configError({ subnet: '10.0.0.0/24' }, '../etc').message).toMatch(/^name: invalid network name/);
  });
});

describe('parseIpamConfig canonicalises like host-local', () => {
  it('fills in gateway, rangeStart and rangeEnd (IPv4 stops before broadcast, IPv6 does not)', () => {
    const cfg = parseIpamConfig({ type: 'kpr-ipam', ranges: [[{ subnet: '10.244.1.7/24' }], [{ subnet: 'FD00:10:244:1::/64' }]], unknownKey: 1 }, 'net');
    expect(cfg.rangeSets).toEqual([
      [{ subnet: '10.244.1.0/24', rangeStart: '10.244.1.1', rangeEnd: '10.244.1.254', gateway: '10.244.1.1' }],
      [{ subnet: 'fd00:10:244:1::/64', rangeStart: 'fd00:10:244:1::1', rangeEnd: 'fd00:10:244:1:ffff:ffff:ffff:ffff', gateway: 'fd00:10:244:1::1' }],
    ]);
    expect(cfg).toMatchObject({ networkName: 'net', dataDir: DEFAULT_DATA_DIR, routes: [], sticky: false, stickyTTLMs: 86_400_000 });
    expect(cfg.resolvConf).toBeUndefined();
  });

  it('puts the legacy top-level range first, keeps explicit bounds and reads sticky settings', () => {
    const cfg = parseIpamConfig(
      {
        subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.20', gateway: '10.1.0.254',
        ranges: [[{ subnet: 'fd01::/120' }]],
        routes: [{ dst: '0.0.0.0/0' }, { dst: '10.96.0.0/12', gw: '10.1.0.254' }],
        dataDir: '/tmp/x', resolvConf: '/etc/resolv.conf', sticky: true, stickyTTL: '1h30m',
      },
      'net',
    );
    expect(cfg.rangeSets.map((s) => s.map((r) => `${r.rangeStart}-${r.rangeEnd} gw ${r.gateway}`))).toEqual([
      ['10.1.0.10-10.1.0.20 gw 10.1.0.254'],
      ['fd01::1-fd01::ff gw fd01::1'],
    ]);
    expect(cfg).toMatchObject({ dataDir: '/tmp/x', resolvConf: '/etc/resolv.conf', sticky: true, stickyTTLMs: 5_400_000 });
    expect(cfg.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '10.96.0.0/12', gw: '10.1.0.254' }]);
  });
});

describe('podCIDRFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kpr-ipam-cfg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives one range set per pod CIDR when ranges are absent', () => {
    const file = join(dir, 'podcidrs.json');
    writeFileSync(file, JSON.stringify({ podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] }));
    const cfg = parseIpamConfig({ podCIDRFile: file }, 'net');
    expect(cfg.rangeSets.map((s) => s.map((r) => r.subnet))).toEqual([['10.244.1.0/24'], ['fd00:10:244:1::/64']]);
    // Configured ranges win over the file.
    expect(parseIpamConfig({ podCIDRFile: file, subnet: '10.9.0.0/24' }, 'net').rangeSets).toHaveLength(1);
  });

  it('says "not ready" while the node agent has not written it, and names it when it is wrong', () => {
    const missing = join(dir, 'missing.json');
    const err = configError({ podCIDRFile: missing });
    expect(err.code).toBe('IPAM_NOT_READY');
    expect(err.message).toContain(missing);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ podCIDRs: ['10.244.1.0/24', 'nope'] }));
    expect(configError({ podCIDRFile: bad }).message).toBe(`${bad}: podCIDRs[1]: expected a CIDR`);
    writeFileSync(bad, '{"podCIDRs": [');
    expect(configError({ podCIDRFile: bad }).message).toBe(`${bad}: pod CIDR file is not JSON`);
  });
});

describe('stickyTTL durations', () => {
  it.each([
    ['24h', 86_400_000], ['90m', 5_400_000], ['1h30m', 5_400_000], ['1.5s', 1500], ['250ms', 250],
    ['', undefined], ['5', undefined], ['1d', undefined], ['1h 30m', undefined],
  ])('%s', (text, ms) => expect(parseGoDuration(text)).toBe(ms));
});
