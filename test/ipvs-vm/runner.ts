// A dependency-free test runner for the IPVS VM: vitest would cost a minute of
// start-up under emulation. Tests run in order; prints TAP-like lines and a closing
// "N passed, N failed" that run.sh looks for.

interface Case {
  name: string;
  fn: () => Promise<void>;
}

const cases: Case[] = [];
const finalizers: Array<() => Promise<void>> = [];

export function test(name: string, fn: () => Promise<void>): void {
  cases.push({ name, fn });
}

/** Runs after every test, even failed ones (e.g. to delete shared namespaces). */
export function afterAll(fn: () => Promise<void>): void {
  finalizers.push(fn);
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

export function assertEqual<T>(actual: T, expected: T, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

export function note(text: string): void {
  for (const line of text.split('\n')) console.log(`# ${line}`);
}

/** Runs the registered tests (those whose name contains `filter`, if given); resolves to the failure count. */
export async function runTests(filter = ''): Promise<number> {
  let passed = 0;
  let failed = 0;
  const t0 = performance.now();
  for (const c of cases) {
    if (!c.name.includes(filter)) continue;
    const t = performance.now();
    try {
      await c.fn();
      passed++;
      console.log(`ok - ${c.name} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
    } catch (err) {
      failed++;
      console.log(`not ok - ${c.name}`);
      note(err instanceof Error ? (err.stack ?? err.message) : String(err));
    }
  }
  for (const fn of finalizers) {
    try { await fn(); } catch (err) { failed++; console.log(`not ok - afterAll: ${String(err)}`); }
  }
  console.log(`# total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed;
}
