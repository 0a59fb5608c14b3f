// The child of cleanupInNamespace: `ip netns exec NS node conntrack-in-netns-main.ts`.
import { errorMessage } from '../../lib/errors.ts';
import { main } from './conntrack-in-netns.ts';

main().then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`conntrack cleanup: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  },
);
