// A separate process for the concurrency tests (run with `node`, which strips the
// types): allocates once and prints the outcome as one JSON line. With "hang" it
// stops forever right after creating its reservation file, still holding the lock,
// so that a test can kill -9 it mid-allocation.
import { KprError } from '../lib/errors.ts';
import { allocateLocked } from './allocator.ts';
import { parseIpamConfig } from './config.ts';
import { DiskStore } from './disk-store.ts';
import { allocate } from './index.ts';
import { withLock } from '../lib/lock.ts';
import type { Holder } from './store.ts';
import { IpamError } from './errors.ts';

const [dataDir = '', ranges = '', containerId = '', mode = 'allocate'] = process.argv.slice(2);
const cfg = parseIpamConfig({ dataDir, ranges: JSON.parse(ranges) as unknown }, 'net');
const req = { containerId, ifName: 'eth0' };

class HangingStore extends DiskStore {
  override reserve(ip: string, holder: Holder, rangeSetIndex: number): boolean {
    const ok = super.reserve(ip, holder, rangeSetIndex);
    if (ok) {
      process.stdout.write(`${JSON.stringify({ reserved: ip })}\n`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    }
    return ok;
  }
}

try {
  if (mode === 'hang') {
    const store = new HangingStore(cfg.dataDir, cfg.networkName);
    await withLock(store.lockPath, () => allocateLocked(store, cfg, req, Date.now()));
  } else {
    const result = await allocate(cfg, req);
    process.stdout.write(`${JSON.stringify({ ips: result.ips.map((i) => i.address) })}\n`);
  }
} catch (err) {
  const e = err instanceof KprError ? err : new IpamError('UNEXPECTED', String(err));
  process.stdout.write(`${JSON.stringify({ code: e.code, message: e.message })}\n`);
}
