import { describe, expect, it } from 'vitest';
import { hashPrefix, iptablesComment, nftComment, nftName } from './naming.ts';

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

// The attack strings of issue 12, as a port name that got past validation.
const IPTABLES_ATTACK = 'p\nCOMMIT\n*filter\n-I INPUT 1 -j ACCEPT\nCOMMIT\n*nat';
const NFT_ATTACK = 'p\nflush ruleset\n';

describe('iptablesComment', () => {
  it('keeps an injected rule inside one quoted word on one line', () => {
    expect(iptablesComment(`ns/web:${IPTABLES_ATTACK} cluster IP`)).toBe('"ns/web:p?COMMIT?*filter?-I INPUT 1 -j ACCEPT?COMMIT?*nat cluster IP"');
  });

  it('escapes quotes and backslashes, replaces control and non-ASCII characters, and cuts to 255', () => {
    expect(iptablesComment('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(iptablesComment('x\\" -j ACCEPT #')).toBe('"x\\\\\\" -j ACCEPT #"');
    expect(iptablesComment('tab\there\r\0wéb')).toBe('"tab?here??w?b"');
    expect(iptablesComment('x'.repeat(300))).toBe('x'.repeat(255));
    expect(iptablesComment('')).toBe('""');
  });

  it('writes plain words bare and anything with spaces quoted, as before', () => {
    expect(iptablesComment('ns1/svc1:p80')).toBe('ns1/svc1:p80');
    expect(iptablesComment('ns1/svc1:p80 cluster IP')).toBe('"ns1/svc1:p80 cluster IP"');
  });
});

describe('nftName', () => {
  it('names as upstream when the name is a bare identifier', () => {
    const id = 'ns1/svc1/tcp/p80__10.180.0.1/80';
    expect(nftName('endpoint', id, id)).toBe(`endpoint-5OJB2KTY-${id}`);
  });

  it('turns any other name into a bare identifier that still tells names apart', () => {
    const names = [NFT_ATTACK, 'p flush ruleset', 'p;flush ruleset', 'p"x', 'p\\x', 'p}x', 'p#x', 'wéb'].map((p) => `ns/web/tcp/${p}`);
    const out = names.map((id) => nftName('service', id, id));
    for (const n of out) expect(n).toMatch(/^service-[A-Z2-7]{16}-[A-Za-z0-9_./-]+$/);
    expect(new Set(out).size).toBe(names.length);
    expect(out[0]).toBe(`service-${hashPrefix(names[0] ?? '', 16)}-ns/web/tcp/p_flush_ruleset_`);
  });

  it('stays within nft\'s 255-byte names', () => {
    const long = `${'a'.repeat(63)}/${'b'.repeat(63)}/sctp/${'c'.repeat(63)}__2001.db8.1234.5678.9abc.def0.1234.5678/65535`;
    const n = nftName('affinity', long, long);
    expect(n.length).toBe(255);
    expect(n).toMatch(/^affinity-[A-Z2-7]{16}-a+\//);
    expect(nftName('affinity', 'x'.repeat(1000), 'x'.repeat(1000)).length).toBe(255);
  });

  it('writes any element comment as one nft quoted string within 128 bytes', () => {
    expect(nftComment('ns/web:http')).toBe('"ns/web:http"');
    expect(nftComment('a"; flush ruleset\n#')).toBe('"a?; flush ruleset?#"');
    expect(nftComment('x'.repeat(300))).toBe(`"${'x'.repeat(128)}"`);
  });
});
