import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Request } from './skel.ts';
import { cmdStatus } from './status.ts';

let bin: string;
beforeEach(() => {
  bin = mkdtempSync(join(tmpdir(), 'kpr-status-'));
  for (const tool of ['ip', 'nsenter', 'sh', 'nft']) {
    writeFileSync(join(bin, tool), '#!/bin/sh\n');
    chmodSync(join(bin, tool), 0o755);
  }
});
afterEach(() => rmSync(bin, { recursive: true, force: true }));

function request(): Request {
  const config = { cniVersion: '1.1.0', name: 'net', type: 'kpr-cni', ipMasq: true, ipam: { type: 'kpr-ipam', dataDir: bin, ranges: [[{ subnet: '10.0.0.0/24' }]] } };
  return {
    command: 'STATUS', containerId: '', netns: '', ifName: '', cniArgs: {}, cniPath: [], config, cniVersion: '1.1.0',
    networkName: 'net', stdin: JSON.stringify(config), env: { PATH: bin },
  };
}

describe('STATUS', () => {
  it('is not available (50) without flock when ipMasq needs the masquerade lock', async () => {
    await expect(cmdStatus(request())).rejects.toMatchObject({ code: 50, message: 'required tools not found in PATH: flock' });
  });
});
