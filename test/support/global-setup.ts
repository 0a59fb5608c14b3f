// Before the real-kernel tests: refuse to run without root, and remove namespaces
// that crashed earlier runs left behind.
import { run } from '../../lib/exec.ts';
import { staleNamespaces } from '../../lab/netns.ts';

export default async function setup(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('real-kernel tests need root (they create network namespaces)');
  for (const name of await staleNamespaces()) {
    await run('ip', ['netns', 'del', name], { allowFailure: true });
  }
}
