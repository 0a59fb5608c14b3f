// Go duration syntax ("30s", "1m0s", "1h", "500ms", "1.5h2m"), as kube-proxy's flags and
// its config file (metav1.Duration) write durations. We keep durations as milliseconds.

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign
  'μs': 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

// The micro signs escaped: one literal non-ASCII character would make the whole bundle a
// two-byte string in V8 (see scripts/build.mjs).
const TERM = /^(\d*)(?:\.(\d*))?([a-z\u00b5\u03bc]+)/;

/** Milliseconds of a Go duration string, or undefined if it is not one. */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let ns = 0;
  while (s !== '') {
    const m = TERM.exec(s);
    if (!m) return undefined;
    const [whole, int = '', frac = '', unit = ''] = m;
    const scale = UNIT_NS[unit];
    if (scale === undefined || (int === '' && frac === '')) return undefined;
    ns += Number(int || '0') * scale + (frac ? Number(`0.${frac}`) * scale : 0);
    s = s.slice(whole.length);
  }
  return (sign * Math.round(ns)) / 1e6;
}

/** `ns` as a decimal with at most `digits` fraction digits, trailing zeros dropped. */
function decimal(ns: number, unitNs: number, digits: number): string {
  const int = Math.floor(ns / unitNs);
  const frac = String(Math.round(ns - int * unitNs)).padStart(digits, '0').replace(/0+$/, '');
  return frac ? `${int}.${frac}` : String(int);
}

/** A duration in milliseconds as Go prints it ("1h0m0s", "30s", "1.5s", "500ms", "0s"). */
export function formatGoDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const ns = Math.round(Math.abs(ms) * 1e6);
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${decimal(ns, 1e3, 3)}µs`;
  if (ns < 1e9) return `${sign}${decimal(ns, 1e6, 6)}ms`;
  const h = Math.floor(ns / 3600e9);
  const m = Math.floor((ns - h * 3600e9) / 60e9);
  const s = decimal(ns - h * 3600e9 - m * 60e9, 1e9, 9);
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}
