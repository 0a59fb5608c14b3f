// CNI spec versions: which ones kpr speaks, and what each verb requires.

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const CURRENT_VERSION = '1.1.0';
/** A config without cniVersion is a 0.1.0 config (libcni and skel agree). */
export const IMPLICIT_VERSION = '0.1.0';

function parts(v: string): number[] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function isVersion(v: string): boolean {
  return parts(v) !== undefined;
}

/** Numeric comparison of two x.y.z versions (unparseable sorts first). */
export function compareVersions(a: string, b: string): number {
  const x = parts(a) ?? [-1, 0, 0];
  const y = parts(b) ?? [-1, 0, 0];
  for (let i = 0; i < 3; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function atLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0;
}

/** The lowest config version that allows each verb (CHECK came in 0.4.0; STATUS, GC in 1.1.0). */
export const MIN_VERSION_FOR: Record<string, string> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };
