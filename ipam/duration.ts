// Go-style durations ("24h", "1h30m", "90s", "500ms"), the notation host-local's
// neighbours (and kubelet flags) use, so stickyTTL reads like the rest of a node's config.

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;

/** Milliseconds of a duration string, or undefined if it is not one. */
export function parseDuration(text: string): number | undefined {
  if (text === '') return undefined;
  let total = 0;
  PART.lastIndex = 0;
  let consumed = 0;
  for (let m = PART.exec(text); m; m = PART.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    consumed = PART.lastIndex;
  }
  return consumed === text.length && Number.isFinite(total) ? Math.round(total) : undefined;
}
