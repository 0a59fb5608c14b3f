// What both labs (one node, several) do around their demo: build the cluster, remove it
// on Ctrl-C, on an error and at the end, and turn failures into exit codes.
import { errorMessage } from '../lib/errors.ts';

/** Builds with `build`, runs `demo` on the result, always tears down; resolves to the exit code. */
export async function runLab<C extends { destroy(): Promise<void> }>(build: () => Promise<C>, demo: (cluster: C) => Promise<void>): Promise<number> {
  let cluster: C;
  try {
    cluster = await build();
  } catch (err) {
    // A cluster removes what it made before its build throws.
    process.stderr.write(`kpr lab: cannot build the cluster: ${errorMessage(err)}\n`);
    return 1;
  }
  let closing: Promise<void> | undefined;
  const teardown = () => (closing ??= cluster.destroy().then(() => void process.stdout.write('kpr lab: cleaned up\n')));
  const onSignal = () => void teardown().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await demo(cluster);
    return 0;
  } catch (err) {
    process.stderr.write(`kpr lab: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    await teardown();
  }
}

/** `--keep`: the lab stays up until Ctrl-C. */
export function untilInterrupted(): Promise<never> {
  return new Promise<never>(() => undefined);
}
