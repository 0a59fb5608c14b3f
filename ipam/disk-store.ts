// host-local's on-disk layout, readable and writable by the stock host-local plugin:
//   <dataDir>/<network>/<ip>                 "<containerID>\r\n<ifName>"
//   <dataDir>/<network>/last_reserved_ip.<i> the last address handed out from range set i
//   <dataDir>/<network>/lock                 flock(2)ed for every operation (see lib/lock.ts)
// plus kpr's sticky records, one JSON file per address in a sub-directory that
// host-local ignores (its directory walk only matches file contents it wrote):
//   <dataDir>/<network>/kpr-sticky/<ip>
//
// Writes never leave a half-written file under a name another reader trusts: the
// content goes to a temporary file first, which is then link(2)ed to the IP's name
// (link fails with EEXIST exactly like open(O_CREAT|O_EXCL), so two allocators can
// never both get an address, and the file appears with its whole content or not at
// all) or rename(2)d over an existing name. A kill -9 can leave a temporary file
// behind; they are swept on the next locked operation.
import { closeSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { randomBytes } from '../lib/crypto-lite.ts';
import { KprError } from '../lib/errors.ts';
import { compareIPs, normalizeIP } from '../lib/ip.ts';
import { lazy } from '../lib/lazy.ts';
import { formatHolder, parseHolder, type Holder, type IpamStore, type Reservation, type StickyEntry, type StickyRecord } from './store.ts';
import { IpamError } from './errors.ts';

export const LOCK_FILE = 'lock';
export const LAST_RESERVED_PREFIX = 'last_reserved_ip.';
export const STICKY_DIR = 'kpr-sticky';
const TEMP_PREFIX = '.kpr-tmp-';

// Built on first use: most networks have no sticky records.
const stickyRecordSchema = lazy(() => z.object({
  podNamespace: z.string().check(z.minLength(1)),
  podName: z.string().check(z.minLength(1)),
  state: z.enum(['allocated', 'recycled']),
  containerId: z.string(),
  ifName: z.string(),
  expiresAt: z.optional(z.iso.datetime()),
}));

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The canonical IP a file is named by, or undefined for lock, last_reserved_ip.*, temporaries and foreign files. */
function ipOfName(name: string): string | undefined {
  const ip = normalizeIP(name);
  return ip === name ? ip : undefined;
}

export class DiskStore implements IpamStore {
  readonly dir: string;
  readonly stickyDir: string;

  /** The store of one network; creates its directories. */
  constructor(dataDir: string, networkName: string) {
    this.dir = join(dataDir, networkName);
    this.stickyDir = join(this.dir, STICKY_DIR);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new IpamError('IPAM_STATE', 'cannot create the IPAM directory', { object: this.dir, cause: err });
    }
  }

  get lockPath(): string {
    return join(this.dir, LOCK_FILE);
  }

  /** Deletes temporaries left by a process killed mid-write; only safe with the lock held. */
  sweepTemporaries(): void {
    for (const dir of [this.dir, this.stickyDir]) {
      for (const name of this.list(dir)) if (name.startsWith(TEMP_PREFIX)) rmSync(join(dir, name), { force: true });
    }
  }

  reservations(): Reservation[] {
    const out: Reservation[] = [];
    for (const name of this.list(this.dir)) {
      const ip = ipOfName(name);
      if (ip === undefined) continue;
      const file = join(this.dir, name);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        if (isNotFound(err)) continue;
        out.push({ ip, file, error: new IpamError('IPAM_STATE', 'cannot read reservation file', { object: file, cause: err }) });
        continue;
      }
      const holder = parseHolder(text);
      out.push(typeof holder === 'string' ? { ip, file, error: new IpamError('IPAM_STATE', `corrupt reservation file: ${holder}`, { object: file }) } : { ip, file, holder });
    }
    return out;
  }

  reserve(ip: string, holder: Holder, rangeSetIndex: number): boolean {
    const tmp = this.writeTemp(this.dir, formatHolder(holder));
    try {
      linkSync(tmp, join(this.dir, ip));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new IpamError('IPAM_STATE', 'cannot create reservation file', { object: join(this.dir, ip), cause: err });
    } finally {
      rmSync(tmp, { force: true });
    }
    this.replace(this.dir, LAST_RESERVED_PREFIX + rangeSetIndex, ip);
    return true;
  }

  overwrite(ip: string, holder: Holder): void {
    this.replace(this.dir, ip, formatHolder(holder));
  }

  remove(ip: string): void {
    this.unlink(join(this.dir, ip));
  }

  lastReservedIP(rangeSetIndex: number): string | undefined {
    // Only a hint for round robin (host-local also ignores an unreadable one): a
    // missing or damaged file restarts the iteration at the first address.
    try {
      return normalizeIP(readFileSync(join(this.dir, LAST_RESERVED_PREFIX + rangeSetIndex), 'utf8'));
    } catch {
      return undefined;
    }
  }

  stickyEntries(): StickyEntry[] {
    const out: StickyEntry[] = [];
    for (const name of this.list(this.stickyDir)) {
      const ip = ipOfName(name);
      if (ip === undefined) continue;
      const file = join(this.stickyDir, name);
      const bad = (why: string, cause?: unknown): void => {
        out.push({ ip, file, error: new IpamError('IPAM_STATE', `corrupt sticky record: ${why}`, { object: file, cause }) });
      };
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        if (isNotFound(err)) continue;
        bad(err instanceof SyntaxError ? 'not JSON' : 'unreadable', err);
        continue;
      }
      const parsed = stickyRecordSchema().safeParse(json);
      if (!parsed.success) {
        bad(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
        continue;
      }
      const { expiresAt, ...rest } = parsed.data;
      out.push({ ip, file, record: { ip, ...rest, ...(expiresAt ? { expiresAt: Date.parse(expiresAt) } : {}) } });
    }
    return out;
  }

  writeSticky(record: StickyRecord): void {
    mkdirSync(this.stickyDir, { recursive: true, mode: 0o755 });
    const { ip, expiresAt, ...rest } = record;
    const json = { ...rest, ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt).toISOString() }) };
    this.replace(this.stickyDir, ip, `${JSON.stringify(json)}\n`);
  }

  removeSticky(ip: string): void {
    this.unlink(join(this.stickyDir, ip));
  }

  private list(dir: string): string[] {
    try {
      // Sorted so that listings and error reports come out in address order.
      return readdirSync(dir).sort(compareIPs);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw new IpamError('IPAM_STATE', 'cannot list the IPAM directory', { object: dir, cause: err });
    }
  }

  private writeTemp(dir: string, content: string): string {
    const tmp = join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      writeSync(fd, content);
    } finally {
      closeSync(fd);
    }
    return tmp;
  }

  /** Atomically sets the content of dir/name (write a temporary, rename over). */
  private replace(dir: string, name: string, content: string): void {
    const tmp = this.writeTemp(dir, content);
    try {
      renameSync(tmp, join(dir, name));
    } catch (err) {
      rmSync(tmp, { force: true });
      throw new IpamError('IPAM_STATE', 'cannot write state file', { object: join(dir, name), cause: err });
    }
  }

  private unlink(file: string): void {
    try {
      unlinkSync(file);
    } catch (err) {
      if (!isNotFound(err)) throw new IpamError('IPAM_STATE', 'cannot remove state file', { object: file, cause: err });
    }
  }
}
