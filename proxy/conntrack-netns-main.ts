// Entry point of `kpr conntrack-cleanup` when run from source (tests, benchmarks):
// `ip netns exec NS node conntrack-netns-main.ts`.
import { errorMessage } from '../lib/errors.ts';
import { main } from './conntrack-netns.ts';

main().then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`kpr conntrack-cleanup: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  },
);
