// Service -> ServicePorts of one IP family (upstream's newBaseServiceInfo).
import { ipFamily, normalizeCIDR, normalizeIP, type IPFamily } from '../../lib/ip.ts';
import type { Service } from '../watch/objects.ts';
import type { ServicePort } from './types.ts';

export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

/** Services the proxy ignores: headless, ExternalName, or without a ClusterIP. */
export function shouldSkipService(svc: Service): boolean {
  const ip = svc.spec.clusterIP;
  return svc.spec.type === 'ExternalName' || ip === undefined || ip === '' || ip === 'None';
}

function clusterIPOf(svc: Service, family: IPFamily): string | undefined {
  const ips = svc.spec.clusterIPs?.length ? svc.spec.clusterIPs : [svc.spec.clusterIP ?? ''];
  for (const ip of ips) {
    if (ipFamily(ip) === family) return normalizeIP(ip);
  }
  return undefined;
}

export function servicePortName(namespace: string, name: string, portName: string): string {
  return portName ? `${namespace}/${name}:${portName}` : `${namespace}/${name}`;
}

/**
 * The ServicePorts of a validated Service in one family, or none when the Service is
 * skipped or has no ClusterIP of that family. Addresses of the other family (external
 * IPs, VIPs, source ranges) are dropped, as upstream does.
 */
export function servicePortsOf(svc: Service, family: IPFamily): ServicePort[] {
  if (shouldSkipService(svc)) return [];
  const clusterIP = clusterIPOf(svc, family);
  if (!clusterIP) return [];
  const { namespace, name } = svc.metadata;
  const spec = svc.spec;
  // Normalized again although the edge did it: these strings become rule text, so a
  // Service that never went through the edge must still yield nothing but addresses.
  const ofFamily = (values: readonly string[], normalize: (s: string) => string | undefined) => {
    const out = new Set<string>();
    for (const v of values) {
      const n = normalize(v);
      if (n && ipFamily(n.split('/')[0] ?? '') === family) out.add(n);
    }
    return [...out].sort();
  };
  const externalIPs = ofFamily(spec.externalIPs, normalizeIP);
  const vips = (svc.status?.loadBalancer?.ingress ?? []).filter((i) => i.ip && i.ipMode !== 'Proxy').map((i) => i.ip ?? '');
  const loadBalancerVIPs = ofFamily(vips, normalizeIP);
  const ranges = ofFamily(spec.loadBalancerSourceRanges, normalizeCIDR);
  const externallyReachable = spec.type === 'NodePort' || spec.type === 'LoadBalancer' || externalIPs.length > 0;
  const externalPolicyLocal = externallyReachable && spec.externalTrafficPolicy === 'Local';
  const affinity =
    spec.sessionAffinity === 'ClientIP'
      ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS)
      : 0;
  return spec.ports.map((p): ServicePort => {
    const spn = servicePortName(namespace, name, p.name);
    return {
      key: `${spn}/${p.protocol}`,
      namespace,
      name,
      portName: p.name,
      servicePortName: spn,
      protocol: p.protocol,
      clusterIP,
      port: p.port,
      nodePort: spec.type === 'NodePort' || spec.type === 'LoadBalancer' ? p.nodePort : 0,
      externalIPs,
      loadBalancerVIPs: spec.type === 'LoadBalancer' ? loadBalancerVIPs : [],
      loadBalancerSourceRanges: spec.type === 'LoadBalancer' ? ranges : [],
      affinityTimeoutSeconds: affinity,
      externalPolicyLocal,
      internalPolicyLocal: spec.internalTrafficPolicy === 'Local',
      healthCheckNodePort: spec.type === 'LoadBalancer' && externalPolicyLocal ? spec.healthCheckNodePort : 0,
    };
  });
}
