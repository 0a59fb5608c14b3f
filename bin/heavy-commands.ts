// The commands that bring in the big dependencies (client-node, execa, prom-client,
// the API server, the lab). In the single executable they are a separate bundle,
// compiled only when one of them runs, so that the CNI plugin (the same executable,
// spawned once per pod) starts without parsing them.
import type { Subcommand } from './kpr.ts';

export const heavyCommands: Record<string, () => Promise<Subcommand>> = {
  proxy: () => import('../proxy/cmd/proxy.ts'),
  network: () => import('../network/cli.ts'),
  render: () => import('../proxy/cmd/render.ts'),
  inspect: () => import('../proxy/cmd/inspect.ts'),
  explain: () => import('../proxy/cmd/explain.ts'),
  lab: () => import('../lab/cli.ts'),
  apiserver: () => import('../apiserver/cli.ts'),
  'lab-agent': async () => ({
    main: async () => {
      (await import('../lab/agent/agent.ts')).runAgent();
      return new Promise<number>(() => undefined);
    },
  }),
};
