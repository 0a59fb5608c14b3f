// `kpr proxy`: kube-proxy's command line on kpr's daemon.
import { readFileSync, writeFileSync } from 'node:fs';
import { errorMessage } from '../../lib/errors.ts';
import { createLogger } from '../../lib/log.ts';
import { parseProxyArgs, proxyUsage } from '../config/config.ts';
import { formatKubeProxyConfiguration } from '../config/file.ts';
import { watchConfigFile } from '../config/watch-file.ts';
import { cleanupAll, runProxy } from '../daemon.ts';

export async function main(argv: string[]): Promise<number> {
  let cfg;
  try {
    cfg = parseProxyArgs(argv);
  } catch (err) {
    process.stderr.write(`kpr proxy: ${errorMessage(err)}\n`);
    return 2;
  }
  if (cfg.help) {
    process.stdout.write(proxyUsage());
    return 0;
  }
  if (cfg.writeConfigTo) {
    writeFileSync(cfg.writeConfigTo, formatKubeProxyConfiguration(cfg));
    return 0;
  }
  const log = createLogger('kpr-proxy', cfg.logLevel);
  for (const w of cfg.warnings) log.warn(w);
  if (cfg.cleanup) {
    await cleanupAll(cfg, log);
    log.info('removed the rules of every proxy mode');
    return 0;
  }
  // The content parseProxyArgs read: a change after this point restarts kpr (as kube-proxy).
  const configText = cfg.configFile === undefined ? undefined : readFileSync(cfg.configFile, 'utf8');
  const proxy = await runProxy(cfg, log);
  const exitCode = await new Promise<number>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve(0));
    if (cfg.configFile !== undefined && configText !== undefined) {
      const file = cfg.configFile;
      watchConfigFile(file, configText, (why) => {
        log.error({ file }, `${why}: exiting, to be restarted with it`);
        resolve(1);
      });
    }
  });
  // Rules stay in place: traffic keeps flowing while the proxy is restarted or upgraded.
  log.info('stopping; rules are left in place');
  await proxy.stop();
  return exitCode;
}
