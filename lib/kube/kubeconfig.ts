// The client configuration: a kubeconfig file, or the pod's service account. Accepts what
// client-go accepts, and refuses at start what could never reach the API server (every
// request would fail the same way, retried for ever), naming what to fix.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { AgentOptions } from 'node:https';
import { createSecureContext } from 'node:tls';
import { KubeConfig, type Cluster, type DispatcherOptions, type User } from '@kubernetes/client-node';
import { KubeError } from './errors.ts';

export interface KubeConfigSource {
  /** Path of a kubeconfig (--kubeconfig, clientConnection.kubeconfig); '' = the pod's service account. */
  kubeconfig: string;
  /** --master: the API server's URL, replacing the kubeconfig's; '' = none. */
  master: string;
}

const KUBECONFIG_FLAG = '--kubeconfig (clientConnection.kubeconfig)';
const TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * client-node refuses an http:// server unless insecure-skip-tls-verify is set; client-go
 * (and kubectl) talk plain HTTP to it, as to `kubectl proxy`. Only that refusal goes: the
 * TLS options still come from the real cluster entry, so https verification is unchanged.
 */
class ClientGoKubeConfig extends KubeConfig {
  override createDispatcherOptions(cluster: Cluster | null, agentOptions: AgentOptions): DispatcherOptions {
    const plainHttp = cluster !== null && cluster.server.startsWith('http:') && !cluster.proxyUrl;
    return super.createDispatcherOptions(plainHttp ? { ...cluster, skipTLSVerify: true } : cluster, agentOptions);
  }
}

const invalid = (message: string, cause?: unknown): KubeError => new KubeError('INVALID_CONFIG', message, { cause });

function isHttpURL(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

function checkURL(what: string, url: string): void {
  if (isHttpURL(url)) return;
  const example = url.includes('://') ? '' : ` (e.g. https://${url})`;
  throw invalid(`${what} "${url}" is not an http:// or https:// URL${example}`);
}

function readOrThrow(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw invalid(`${what} ${path}: cannot read it`, err);
  }
}

/** The certificate material: files that exist, and PEM that parses (client-node would only fail per request). */
function checkTLS(cluster: Cluster, user: User | null): void {
  const where = `cluster "${cluster.name}"`;
  const ca = cluster.caFile ? readOrThrow(`${where}: certificate-authority`, cluster.caFile) : cluster.caData ? Buffer.from(cluster.caData, 'base64') : undefined;
  if (ca) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw invalid(`${where}: certificate-authority${cluster.caFile ? ` ${cluster.caFile}` : '-data'} is not a PEM certificate`, err);
    }
  }
  if (!user) return;
  const who = `user "${user.name}"`;
  const cert = user.certFile ? readOrThrow(`${who}: client-certificate`, user.certFile) : user.certData ? Buffer.from(user.certData, 'base64') : undefined;
  const key = user.keyFile ? readOrThrow(`${who}: client-key`, user.keyFile) : user.keyData ? Buffer.from(user.keyData, 'base64') : undefined;
  if (!cert && !key) return;
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw invalid(`${who}: client-certificate and client-key are not a matching PEM certificate and key`, err);
  }
}

function loadFile(kc: KubeConfig, path: string): void {
  readOrThrow(KUBECONFIG_FLAG, path);
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw invalid(`${KUBECONFIG_FLAG} ${path}: not a valid kubeconfig`, err);
  }
}

function loadInCluster(kc: KubeConfig, master: string): void {
  const env = process.env;
  if (!master && (!env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT)) {
    throw invalid(`no ${KUBECONFIG_FLAG} and KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset: `
      + 'run in a pod (or set them, as the kpr-api-server ConfigMap does), or give a kubeconfig');
  }
  if (!existsSync(TOKEN_PATH)) {
    throw invalid(`no ${KUBECONFIG_FLAG} and no service account token at ${TOKEN_PATH}: the pod needs its token `
      + '(automountServiceAccountToken, or the projected volume of manifests/kpr.yaml), or give a kubeconfig');
  }
  kc.loadFromCluster();
}

export function loadKubeConfig(src: KubeConfigSource): KubeConfig {
  const kc = new ClientGoKubeConfig();
  if (src.kubeconfig) loadFile(kc, src.kubeconfig);
  else loadInCluster(kc, src.master);
  const where = src.kubeconfig ? `${KUBECONFIG_FLAG} ${src.kubeconfig}` : 'the in-cluster configuration';
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw invalid(`${where}: current-context "${kc.getCurrentContext()}" names no context with a cluster: set current-context to one of its contexts`);
  if (src.master) {
    checkURL('--master', src.master);
    kc.clusters = kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server: src.master } : c));
  } else {
    checkURL(`${where}: cluster "${cluster.name}": server`, cluster.server);
  }
  checkTLS(cluster, kc.getCurrentUser());
  return kc;
}
