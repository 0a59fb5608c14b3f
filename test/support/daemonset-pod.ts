// The DaemonSet's pod as a node's kubelet would run it, from the image `npm run image`
// builds: its containers' images, commands, environment and mounts are read from
// manifests/kpr.yaml, each hostPath volume is mapped to a temporary directory, the
// ConfigMap volume to a directory holding its keys, and podman runs the container
// (privileged, in a node namespace for hostNetwork).
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml, type KubernetesObject, type V1ConfigMap, type V1Container, type V1DaemonSet, type V1PodSpec } from '@kubernetes/client-node';
import type { Netns } from '../../lab/netns.ts';

const MANIFEST = new URL('../../manifests/kpr.yaml', import.meta.url);

export interface DaemonSetPod {
  spec: V1PodSpec;
  configMap: Record<string, string>;
  container(name: string): V1Container;
  initContainer(name: string): V1Container;
}

export function daemonSetPod(): DaemonSetPod {
  const objects: KubernetesObject[] = loadAllYaml(readFileSync(MANIFEST, 'utf8'));
  const ds = objects.find((o) => o.kind === 'DaemonSet') as V1DaemonSet | undefined;
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === 'kpr-config') as V1ConfigMap | undefined;
  const spec = ds?.spec?.template.spec;
  if (!spec || !cm?.data) throw new Error('manifests/kpr.yaml has no DaemonSet pod spec or kpr-config ConfigMap');
  const pick = (list: V1Container[] | undefined, name: string) => {
    const c = list?.find((x) => x.name === name);
    if (!c) throw new Error(`the DaemonSet has no container ${name}`);
    return c;
  };
  return { spec, configMap: cm.data, container: (n) => pick(spec.containers, n), initContainer: (n) => pick(spec.initContainers, n) };
}

/** Where each hostPath volume of the pod lives in a test: `root` + the host path. */
export function hostDirs(root: string, pod: DaemonSetPod): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of pod.spec.volumes ?? []) {
    const hp = v.hostPath;
    if (!hp) continue;
    const dir = join(root, 'host', hp.path);
    if (hp.type === 'FileOrCreate') {
      mkdirSync(join(dir, '..'), { recursive: true });
      closeSync(openSync(dir, 'a'));
    } else {
      mkdirSync(dir, { recursive: true });
    }
    out.set(v.name, dir);
  }
  return out;
}

/** kubelet's $(VAR) expansion of a container's command from its environment. */
export function expandCommand(c: V1Container, env: Record<string, string>): string[] {
  return (c.command ?? []).map((a) => a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => env[name] ?? m));
}

export interface RunOptions {
  /** Image reference (the DaemonSet's). */
  image: string;
  /** The ConfigMap's keys as the pod sees them (a test may edit the values marked CHANGE). */
  configMap: Record<string, string>;
  /** hostPath volume name → directory standing for it. */
  hostDirs: Map<string, string>;
  /** Where the ConfigMap's files are written. */
  dir: string;
  /** Environment a fieldRef would give (NODE_NAME). */
  env?: Record<string, string>;
  /** hostNetwork: the node namespace; none: no network. */
  netns?: Netns;
  name: string;
}

/**
 * `podman run`'s start: runc, and open-file and process limits within this machine's
 * hard limits (podman's defaults exceed them, and runc then refuses to start).
 */
export const PODMAN_RUN = ['run', '--rm', '--runtime', 'runc', '--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096'];

/** The `podman run` command line that runs container `c` of the pod as kubelet would. */
export function podmanRun(c: V1Container, o: RunOptions): string[] {
  const cmDir = join(o.dir, 'configmap');
  mkdirSync(cmDir, { recursive: true });
  for (const [key, value] of Object.entries(o.configMap)) writeFileSync(join(cmDir, key), value, { mode: 0o644 });
  const volumes = new Map<string, string>();
  for (const v of daemonSetPod().spec.volumes ?? []) {
    if (v.configMap) volumes.set(v.name, cmDir);
    else if (v.projected) {
      // The service account token the kubelet would project: tests hand kpr a kubeconfig instead.
      const d = join(o.dir, `projected-${v.name}`);
      mkdirSync(d, { recursive: true });
      volumes.set(v.name, d);
    } else if (v.hostPath) {
      const d = o.hostDirs.get(v.name);
      if (!d) throw new Error(`no test directory for hostPath volume ${v.name}`);
      volumes.set(v.name, d);
    }
  }
  const args = [...PODMAN_RUN, '--name', o.name];
  args.push('--network', o.netns ? `ns:${o.netns.path}` : 'none');
  if (c.securityContext?.privileged) args.push('--privileged');
  for (const m of c.volumeMounts ?? []) {
    const src = volumes.get(m.name);
    if (!src) throw new Error(`container ${c.name} mounts ${m.name}, which is not a volume`);
    args.push('-v', `${src}:${m.mountPath}${m.readOnly ? ':ro' : ''}`);
  }
  const env = { ...o.env };
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  const [entry = '', ...rest] = expandCommand(c, env);
  args.push('--entrypoint', entry, o.image, ...rest);
  return ['podman', ...args];
}

/** Removes a container by name, whatever state it is in. */
export function podmanRemove(name: string): void {
  spawnSync('podman', ['rm', '-f', '-t', '0', name], { stdio: 'ignore' });
}

/** The image reference `npm run image` tags, from package.json's version. */
export function imageRef(): string {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `localhost/kpr:${version}`;
}
