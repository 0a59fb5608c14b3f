import { describe, expect, it } from 'vitest';
import { isExecError, kernelErrno, run } from './exec.ts';
import { parseIpAddrJSON } from './ip-addr.ts';

describe('run', () => {
  it('streams chunked input, also produced later', async () => {
    async function* chunks() {
      yield 'a\n';
      await new Promise((r) => setTimeout(r, 5));
      yield 'b\n';
    }
    expect((await run('cat', [], { input: chunks() })).stdout).toBe('a\nb\n');
  });

  it('types a failure: not startable, or exited non-zero with the kernel errno', async () => {
    const spawnErr = await run('/nonexistent/tool', []).catch((e: unknown) => e);
    expect(isExecError(spawnErr, 'EXEC_SPAWN')).toBe(true);
    const exitErr = await run('sh', ['-c', 'echo "RTNETLINK answers: File exists" >&2; exit 2']).catch((e: unknown) => e);
    expect(isExecError(exitErr, 'EXEC_EXIT') && exitErr.exitCode === 2 && exitErr.errno === 'EEXIST').toBe(true);
    const allowed = await run('sh', ['-c', 'echo "Error: No such file or directory" >&2; exit 1'], { allowFailure: true });
    expect(allowed).toMatchObject({ exitCode: 1, errno: 'ENOENT' });
  });

  it.each([
    ['RTNETLINK answers: File exists', 'EEXIST'],
    ['Error: Could not process rule: No such file or directory', 'ENOENT'],
    ['Cannot find device "kube-ipvs0"', 'ENODEV'],
    ['some other failure', undefined],
  ])('kernelErrno(%s)', (stderr, errno) => expect(kernelErrno(stderr)).toBe(errno));
});

describe('parseIpAddrJSON', () => {
  it('canonical addresses with family, prefix and scope', () => {
    const json = JSON.stringify([
      { ifname: 'lo', addr_info: [{ local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
      { ifname: 'eth0', addr_info: [{ local: '2001:db8:0::2', prefixlen: 64 }] },
      { ifname: 'eth1' },
    ]);
    expect(parseIpAddrJSON(json)).toEqual([
      { ifname: 'lo', addresses: [{ ip: '127.0.0.1', family: 4, prefixLength: 8, scope: 'host' }] },
      { ifname: 'eth0', addresses: [{ ip: '2001:db8::2', family: 6, prefixLength: 64, scope: 'global' }] },
      { ifname: 'eth1', addresses: [] },
    ]);
  });

  it('names the command when the output is not what ip prints', () => {
    expect(() => parseIpAddrJSON('{"not":"a list"}')).toThrow(/ip -j addr/);
  });
});
