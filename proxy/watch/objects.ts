// The edge where Kubernetes objects enter the proxy: zod schemas for the fields the
// proxy reads. Whatever passes is trusted inside; whatever fails is refused with an
// error naming the object and the field, so one bad object never affects the others.
import * as z from 'zod';
import { KprError } from '../../lib/errors.ts';
import { normalizeIP, normalizeCIDR } from '../../lib/ip.ts';
import { ProxyError } from '../errors.ts';

const ipString = z.string().transform((s, ctx) => {
  const ip = normalizeIP(s);
  if (!ip) ctx.addIssue({ code: 'custom', message: `"${s}" is not an IP address` });
  return ip ?? '';
});

const protocol = z.enum(['TCP', 'UDP', 'SCTP']);
const port = z.number().int().min(1).max(65535);

// Kubernetes' own rules for the names kpr uses (apimachinery's IsDNS1123Label and
// IsDNS1123Subdomain). Names reach rule comments and nft identifiers, so they are
// checked here as the API server checks them, never taken on trust.
const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const LABEL_RULE = "lower case alphanumerics or '-', starting and ending with an alphanumeric";
const dnsLabel = z
  .string()
  .max(63, 'must be no more than 63 characters')
  .regex(new RegExp(`^${LABEL}$`), `must be a DNS-1123 label: ${LABEL_RULE}`);
/** A port name: empty, or a DNS-1123 label (Service and EndpointSlice ports alike). */
const portName = z
  .string()
  .max(63, 'must be no more than 63 characters')
  .regex(new RegExp(`^(${LABEL})?$`), `must be empty or a DNS-1123 label: ${LABEL_RULE}`);
const dnsSubdomain = z
  .string()
  .max(253, 'must be no more than 253 characters')
  .regex(new RegExp(`^${LABEL}(\\.${LABEL})*$`), `must be a DNS-1123 subdomain: dot-separated labels of ${LABEL_RULE}`);

const metadata = z.object({
  // Service names are DNS-1035 labels, or DNS-1123 labels (may start with a digit) under
  // the RelaxedServiceNameValidation gate: the wider form, so kpr never drops a Service
  // the API server admitted.
  name: dnsLabel,
  namespace: dnsLabel,
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  resourceVersion: z.string().optional(),
});

const servicePort = z.object({
  name: portName.optional().default(''),
  protocol: protocol.optional().default('TCP'),
  port,
  nodePort: z.number().int().min(0).max(65535).optional().default(0),
});

/** As ValidateService: port names are unique, and required when there is more than one port. */
const servicePorts = z.array(servicePort).superRefine((ports, ctx) => {
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    if (ports.length > 1 && p.name === '') ctx.addIssue({ code: 'custom', path: [i, 'name'], message: 'required when the Service has more than one port' });
    else if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate port name "${p.name}"` });
    seen.add(p.name);
  });
});

export const serviceSchema = z.object({
  metadata,
  spec: z.object({
    type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).optional().default('ClusterIP'),
    clusterIP: z.string().optional(),
    clusterIPs: z.array(z.string()).optional(),
    ports: servicePorts.optional().default([]),
    externalIPs: z.array(ipString).optional().default([]),
    loadBalancerSourceRanges: z
      .array(
        z.string().transform((s, ctx) => {
          // Upstream trims whitespace around source ranges before parsing them.
          const c = normalizeCIDR(s.trim());
          if (!c) ctx.addIssue({ code: 'custom', message: `"${s}" is not a CIDR` });
          return c ?? '';
        }),
      )
      .optional()
      .default([]),
    sessionAffinity: z.enum(['None', 'ClientIP']).optional().default('None'),
    sessionAffinityConfig: z
      .object({ clientIP: z.object({ timeoutSeconds: z.number().int().min(1).max(86400).optional() }).optional() })
      .optional(),
    externalTrafficPolicy: z.enum(['Cluster', 'Local']).optional().default('Cluster'),
    internalTrafficPolicy: z.enum(['Cluster', 'Local']).optional().default('Cluster'),
    healthCheckNodePort: z.number().int().min(0).max(65535).optional().default(0),
    trafficDistribution: z.string().optional(),
  }),
  status: z
    .object({
      loadBalancer: z
        .object({
          ingress: z
            .array(z.object({ ip: ipString.optional(), hostname: z.string().optional(), ipMode: z.enum(['VIP', 'Proxy']).optional() }))
            .optional(),
        })
        .optional(),
    })
    .optional(),
});
export type Service = z.infer<typeof serviceSchema>;

const endpointConditions = z.object({
  ready: z.boolean().nullish(),
  serving: z.boolean().nullish(),
  terminating: z.boolean().nullish(),
});

export const endpointSliceSchema = z.object({
  metadata: metadata.extend({ name: dnsSubdomain, labels: z.record(z.string(), z.string()) }),
  addressType: z.enum(['IPv4', 'IPv6', 'FQDN']),
  endpoints: z
    .array(
      z.object({
        // Individual addresses are checked when endpoints are built, so that one bad
        // address drops one endpoint rather than the whole slice.
        addresses: z.array(z.string()).min(1),
        conditions: endpointConditions.optional(),
        nodeName: z.string().nullish(),
        zone: z.string().nullish(),
        hints: z
          .object({
            forZones: z.array(z.object({ name: z.string() })).nullish(),
            forNodes: z.array(z.object({ name: z.string() })).nullish(),
          })
          .nullish(),
      }),
    )
    .nullish()
    .transform((v) => v ?? []),
  ports: z
    .array(z.object({ name: portName.nullish(), port: z.number().int().nullish(), protocol: protocol.nullish() }))
    .nullish()
    .transform((v) => v ?? []),
});
export type EndpointSlice = z.infer<typeof endpointSliceSchema>;

export const nodeSchema = z.object({
  metadata: z.object({
    name: z.string().min(1),
    labels: z.record(z.string(), z.string()).optional().default({}),
    deletionTimestamp: z.unknown().optional(),
  }),
  spec: z
    .object({
      podCIDR: z.string().optional(),
      podCIDRs: z.array(z.string()).optional(),
      taints: z.array(z.object({ key: z.string(), effect: z.string().optional() })).optional(),
    })
    .optional()
    .default({}),
  status: z
    .object({ addresses: z.array(z.object({ type: z.string(), address: z.string() })).optional() })
    .optional()
    .default({}),
});
export type Node = z.infer<typeof nodeSchema>;

const cidrString = z.string().transform((s, ctx) => {
  const c = normalizeCIDR(s);
  if (!c) ctx.addIssue({ code: 'custom', message: `"${s}" is not a CIDR` });
  return c ?? '';
});

/** networking.k8s.io/v1 ServiceCIDR (cluster-scoped): the ranges ClusterIPs are allocated from. */
export const serviceCIDRSchema = z.object({
  metadata: z.object({ name: z.string().min(1) }),
  spec: z.object({ cidrs: z.array(cidrString).optional().default([]) }).optional().default({ cidrs: [] }),
});
export type ServiceCIDR = z.infer<typeof serviceCIDRSchema>;

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

function describe(kind: string, raw: unknown): string {
  const md = (raw as { metadata?: { namespace?: unknown; name?: unknown } } | null)?.metadata;
  const ns = typeof md?.namespace === 'string' ? `${md.namespace}/` : '';
  const name = typeof md?.name === 'string' ? md.name : '<unnamed>';
  return `${kind} ${ns}${name}`;
}

function parseWith<T>(schema: z.ZodType<T>, kind: string, raw: unknown): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.join('.') || '(object)'}: ${i.message}`).join('; ');
  throw new ProxyError('INVALID_OBJECT', `invalid: ${issues}`, { object: describe(kind, raw) });
}

export const parseService = (raw: unknown): Service => parseWith(serviceSchema, 'Service', raw);
export const parseNode = (raw: unknown): Node => parseWith(nodeSchema, 'Node', raw);
export const parseServiceCIDR = (raw: unknown): ServiceCIDR => parseWith(serviceCIDRSchema, 'ServiceCIDR', raw);
export function parseEndpointSlice(raw: unknown): EndpointSlice {
  const slice = parseWith(endpointSliceSchema, 'EndpointSlice', raw);
  if (!slice.metadata.labels[SERVICE_NAME_LABEL]) {
    throw new ProxyError('INVALID_OBJECT', `missing label ${SERVICE_NAME_LABEL}`, { object: describe('EndpointSlice', raw) });
  }
  return slice;
}

/**
 * Services (and their slices) a default kube-proxy handles: not claimed by another
 * proxy and not headless. The informers ask the API server for exactly this selector.
 */
export const PROXY_LABEL_SELECTOR = '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';

export function selectedByProxy(labels: Readonly<Record<string, string>> | undefined): boolean {
  return !labels || (!('service.kubernetes.io/service-proxy-name' in labels) && !('service.kubernetes.io/headless' in labels));
}
