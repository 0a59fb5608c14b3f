// The names a container runtime hands to CNI plugins (container ID, network name,
// interface name, netns path), checked once for kpr-cni, kpr-ipam and `kpr ipam`.
// They end up in `ip -batch` lines, nft text, link aliases and file names, so each
// rule is the spec's or the kernel's, narrowed to what those texts carry verbatim.

/** The spec's rule for container IDs and network names. */
export const CNI_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * kpr-cni labels each attachment "kpr-cni/<network>/<containerID>/<ifname>", as the
 * host veth's alias (at most 255 bytes, IFALIASZ) and as the comment of its nftables
 * masquerade elements (at most 128 bytes). 8 + 32 + 1 + 64 + 1 + 15 = 121 fits both.
 * Every runtime we know sends 64 hex digits (containerd, CRI-O, Docker, podman) or
 * less (Nomad's UUIDs, cnitool's 28 characters).
 */
export const MAX_CONTAINER_ID = 64;
export const MAX_CNI_NETWORK_NAME = 32;
/** IFNAMSIZ - 1. */
export const MAX_IFNAME = 15;
/** A directory name (NAME_MAX): the IPAM store is <dataDir>/<network>/. */
export const MAX_NETWORK_DIR_NAME = 255;

/**
 * The length bound holds for new attachments only: DEL, CHECK and IPAM release take a
 * longer ID that an older kpr accepted, so that what it attached can still be removed.
 */
export function containerIdProblem(id: string, attaching: boolean): string | undefined {
  if (!CNI_NAME_RE.test(id)) return `invalid characters in container ID "${id}" (expected ${CNI_NAME_RE.source})`;
  if (attaching && id.length > MAX_CONTAINER_ID) return `container ID is too long (${id.length} characters, at most ${MAX_CONTAINER_ID})`;
  return undefined;
}

/** A network name that can name the IPAM store's directory (the spec's rule, one path segment). */
export function networkNameProblem(name: string): string | undefined {
  if (!CNI_NAME_RE.test(name)) return `invalid network name "${name}" (expected ${CNI_NAME_RE.source})`;
  if (name.length > MAX_NETWORK_DIR_NAME) return `network name is too long (${name.length} characters, at most ${MAX_NETWORK_DIR_NAME})`;
  return undefined;
}

/**
 * What the kernel accepts as an interface name (dev_valid_name: 1-15 bytes, not "."
 * or "..", no "/", ":" or whitespace), further limited to printable ASCII without
 * "#" (a comment in `ip -batch`), quotes and "\" (quoting there and in nft text) and
 * "%" (the kernel expands "%d" in a new link's name).
 */
export function interfaceNameProblem(name: string): string | undefined {
  if (name === '') return 'interface name is empty';
  if (Buffer.byteLength(name) > MAX_IFNAME) return `interface name is too long (at most ${MAX_IFNAME} bytes)`;
  if (name === '.' || name === '..') return `interface name "${name}" is not allowed`;
  if (!/^[\x21-\x7e]+$/.test(name)) return `interface name ${JSON.stringify(name)} contains whitespace, control or non-ASCII characters`;
  const bad = /[/:#"'\\%]/.exec(name);
  if (bad) return `interface name "${name}" contains "${bad[0]}"`;
  return undefined;
}

/**
 * A netns path as it goes into `ip ... netns PATH` and `nsenter --net=PATH`: absolute
 * (a bare word would be a name under /run/netns, a number a pid) and without
 * whitespace, control characters, "#", quotes or "\".
 */
export function netnsPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return `"${path}" is not an absolute path`;
  if (/[\s\x00-\x1f\x7f#"'\\]/.test(path)) return `${JSON.stringify(path)} contains whitespace, control characters, "#", quotes or "\\"`;
  return undefined;
}
