// kpr's IPAM: host-local-compatible allocation with sticky addresses, for the
// kpr-cni plugin and the kpr-ipam IPAM plugin. Each call opens the network's store,
// holds its lock for the whole operation and runs the allocator over it.
import { containerIdProblem, interfaceNameProblem } from '../lib/cni-names.ts';
import { KprError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import {
  allocateLocked,
  checkLocked,
  gcLocked,
  releaseLocked,
  statusLocked,
  type AllocateRequest,
  type Attachment,
  type GcResult,
  type IpamIP,
} from './allocator.ts';
import type { IpamConfig, IpamRoute } from './config.ts';
import { DiskStore } from './disk-store.ts';
import { faultPoint } from '../lib/fault.ts';
import { withLock } from '../lib/lock.ts';
import { readResolvConf, type IpamDNS } from './resolv.ts';
import { IpamError } from './errors.ts';

export { parseIpamConfig, DEFAULT_DATA_DIR, type IpamConfig, type IpamRoute } from './config.ts';
export type { IpamRange } from './range.ts';
export type { AllocateRequest, Attachment, GcResult, IpamIP } from './allocator.ts';
export type { IpamDNS } from './resolv.ts';
export { IpamError, isIpamError, type IpamErrorCode } from './errors.ts';

/** What CNI calls an abbreviated (IPAM) result: no interfaces. */
export interface IpamResult {
  ips: IpamIP[];
  routes: IpamRoute[];
  dns?: IpamDNS;
}

export interface IpamOptions {
  /** Epoch milliseconds; sticky TTLs are measured with it (tests inject one). */
  now?: () => number;
  /** How long to wait for another operation's lock (default 60 s). */
  lockTimeoutMs?: number;
  /** Told about unreadable state files that an operation stepped around. */
  log?: Logger;
}

// Kubernetes names, and the container names podman passes as K8S_POD_NAME: no '/' or
// whitespace, which would break the "namespace/name" line of a recycled address's file.
const POD_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function checkAttachment(att: Attachment, attaching = false): void {
  const id = containerIdProblem(att.containerId, attaching);
  if (id) throw new IpamError('INVALID_ARGS', id, { object: 'containerId' });
  const ifName = interfaceNameProblem(att.ifName);
  if (ifName) throw new IpamError('INVALID_ARGS', ifName, { object: 'ifName' });
}

/** The pod identity is only used (and so only checked) when stickiness is on. */
function checkPod(cfg: IpamConfig, req: AllocateRequest): void {
  if (!cfg.sticky) return;
  for (const key of ['podNamespace', 'podName'] as const) {
    const v = req[key];
    if (v !== undefined && v !== '' && !POD_NAME.test(v)) throw new IpamError('INVALID_ARGS', `invalid ${key} "${v}"`, { object: key });
  }
}

async function locked<T>(cfg: IpamConfig, opts: IpamOptions, fn: (store: DiskStore, now: number) => T): Promise<T> {
  const store = new DiskStore(cfg.dataDir, cfg.networkName);
  return withLock(
    store.lockPath,
    () => {
      faultPoint('ipam-locked');
      store.sweepTemporaries();
      const out = fn(store, (opts.now ?? Date.now)());
      faultPoint('ipam-written');
      return out;
    },
    { timeoutMs: opts.lockTimeoutMs },
  );
}

function warnProblems(opts: IpamOptions, problems: readonly KprError[]): void {
  for (const p of problems) opts.log?.warn({ code: p.code, object: p.object }, p.message);
}

/**
 * One address per range set for the attachment (CNI ADD). Repeating it for the same
 * containerId/ifName returns the same addresses. Throws KprError IPAM_EXHAUSTED,
 * IPAM_REQUESTED_IP, IPAM_STATE or INVALID_ARGS, LockTimeoutError or KprError LOCK.
 */
export async function allocate(cfg: IpamConfig, req: AllocateRequest, opts: IpamOptions = {}): Promise<IpamResult> {
  checkAttachment(req, true);
  checkPod(cfg, req);
  const dns = cfg.resolvConf === undefined ? undefined : readResolvConf(cfg.resolvConf);
  const { ips, problems } = await locked(cfg, opts, (store, now) => allocateLocked(store, cfg, req, now));
  warnProblems(opts, problems);
  return { ips, routes: cfg.routes, ...(dns ? { dns } : {}) };
}

/** Releases the attachment's addresses (CNI DEL); never fails because there is nothing to release. */
export async function release(cfg: IpamConfig, att: Attachment, opts: IpamOptions = {}): Promise<void> {
  checkAttachment(att);
  await locked(cfg, opts, (store, now) => releaseLocked(store, cfg, att, now));
}

/** What is recorded for the attachment (CNI CHECK), or undefined. Throws IPAM_STATE if it may be in an unreadable file. */
export async function check(cfg: IpamConfig, att: Attachment, opts: IpamOptions = {}): Promise<IpamResult | undefined> {
  checkAttachment(att);
  const ips = await locked(cfg, opts, (store) => checkLocked(store, cfg, att));
  return ips && { ips, routes: cfg.routes };
}

/** Releases every reservation whose attachment is not in valid (CNI GC); reclaims expired sticky addresses. */
export async function gc(cfg: IpamConfig, valid: readonly Attachment[], opts: IpamOptions = {}): Promise<GcResult> {
  const result = await locked(cfg, opts, (store, now) => gcLocked(store, cfg, valid, now));
  warnProblems(opts, result.problems);
  return result;
}

/** Throws (IPAM_EXHAUSTED, IPAM_NOT_READY via config, LOCK_TIMEOUT) if no address could be allocated now (CNI STATUS). */
export async function status(cfg: IpamConfig, opts: IpamOptions = {}): Promise<void> {
  await locked(cfg, opts, (store, now) => statusLocked(store, cfg, now));
}
