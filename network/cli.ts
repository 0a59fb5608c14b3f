// `kpr network`: the node's pod-network agent.
import { errorMessage } from '../lib/errors.ts';
import { createLogger } from '../lib/log.ts';
import { runAgent } from './agent.ts';
import { networkUsage, parseNetworkArgs, type NetworkConfig } from './config.ts';
import { removeAll } from './kernel.ts';
import { removeMasq } from './masq.ts';
import { removeNodeFile } from './node-file.ts';

/** Removes what kpr network made: its devices, routes with its protocol, its nft table, the node file. */
async function cleanup(cfg: NetworkConfig): Promise<number> {
  const log = createLogger('kpr-network', cfg.logLevel);
  const errors = await removeAll();
  await removeMasq().catch((err: unknown) => errors.push(`removing the masquerade table: ${errorMessage(err)}`));
  await removeNodeFile(cfg.nodeFile).catch((err: unknown) => errors.push(`removing ${cfg.nodeFile}: ${errorMessage(err)}`));
  for (const err of errors) log.error({ err }, 'cleanup step failed');
  log.info({ failed: errors.length }, 'removed the pod network kpr network made');
  return errors.length ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  let cfg: NetworkConfig;
  try {
    cfg = parseNetworkArgs(argv);
  } catch (err) {
    process.stderr.write(`kpr network: ${errorMessage(err)}\n`);
    return 2;
  }
  if (cfg.help) {
    process.stdout.write(networkUsage());
    return 0;
  }
  if (cfg.cleanup) return cleanup(cfg);
  const log = createLogger('kpr-network', cfg.logLevel);
  const agent = await runAgent(cfg, log);
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
  });
  // Routes stay: pods keep talking across nodes while the agent restarts or upgrades.
  log.info('stopping; routes are left in place');
  await agent.stop();
  return 0;
}
