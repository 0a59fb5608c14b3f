// `kpr apiserver`: serves objects from files over the Kubernetes list/watch protocol
// until SIGINT or SIGTERM, for the lab and for trying the proxy without a cluster.
import { parseArgs } from 'node:util';
import { errorMessage } from '../lib/errors.ts';
import { createLogger } from '../lib/log.ts';
import { loadObjects } from '../lib/kube/object-files.ts';
import { ApiServer } from './server.ts';
import { ApiServerError } from './errors.ts';

const USAGE = `usage: kpr apiserver [--listen HOST:PORT] [--objects FILE|DIR] [--kubeconfig-out PATH]

  --listen HOST:PORT     address to serve on (default 127.0.0.1:6443; [::1]:PORT for IPv6)
  --objects FILE|DIR     YAML or JSON objects to serve (multi-document, kind: List, or a directory)
  --kubeconfig-out PATH  write a kubeconfig for this server there
`;

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        listen: { type: 'string', default: '127.0.0.1:6443' },
        objects: { type: 'string' },
        'kubeconfig-out': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`kpr apiserver: ${errorMessage(err)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = createLogger('apiserver');
  const server = new ApiServer({ listen: values.listen, logger: log });
  if (values.objects) {
    for (const { source, object } of await loadObjects(values.objects)) {
      try {
        server.apply(object);
      } catch (err) {
        throw new ApiServerError('BadObjects', 'cannot serve object', { object: source, cause: err });
      }
    }
  }
  await server.start();
  const kubeconfig = values['kubeconfig-out'];
  if (kubeconfig) await server.writeKubeconfig(kubeconfig);
  log.info({ url: server.url, kubeconfig, resourceVersion: server.resourceVersion }, 'serving; SIGINT or SIGTERM stops');

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log.info({ signal }, 'stopping');
  await server.close();
  return 0;
}
