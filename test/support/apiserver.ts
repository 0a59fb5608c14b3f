// For tests: an embedded API server per test, closed after it (with whatever else the
// test registered), so that a failing test leaves no server behind.
import { afterEach } from 'vitest';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../apiserver/server.ts';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Runs `fn` after the current test, in reverse order of registration. */
export function afterThisTest(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

export async function testServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const s = await startApiServer(opts);
  afterThisTest(() => s.close());
  return s;
}
