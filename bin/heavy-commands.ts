// The commands that bring in the big dependencies (client-node, execa, prom-client,
// the API server, the lab). In the single executable they are a separate bundle,
// compiled only when one of them runs, so that the CNI plugin (the same executable,
// spawned once per pod) starts without parsing them.
import type { Subcommand } from './kpr.ts';

export const heavyCommands: Record<string, () => Promise<Subcommand>> = {
  proxy: () => import('../proxy/cli.ts'),
  network: () => import('../network/cli.ts'),
  render: () => import('../proxy/render-cli.ts'),
  inspect: () => import('../proxy/inspect/cli.ts'),
  lab: () => import('../lab/cli.ts'),
  apiserver: () => import('../apiserver/cli.ts'),
  'lab-agent': async () => ({
    main: async () => {
      (await import('../test/harness/agent.ts')).runAgent();
      return new Promise<number>(() => undefined);
    },
  }),
  'conntrack-cleanup': () => import('../proxy/conntrack-netns.ts'),
};
