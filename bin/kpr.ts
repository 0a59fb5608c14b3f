// kpr: one executable, subcommands loaded on demand so that short-lived uses (the
// CNI plugin, spawned per pod) pay only for the code they run.
import { basename } from 'node:path';
import { errorMessage } from '../lib/errors.ts';
import { heavyCommand } from './heavy.ts';
import { enterRuntime } from './runtime-env.ts';

export interface Subcommand {
  /** Runs the subcommand with the arguments after its name; resolves to the exit code. */
  main(argv: string[]): Promise<number>;
}

interface Entry {
  summary: string;
  load: () => Promise<Subcommand>;
}

const commands: Record<string, Entry> = {
  proxy: { summary: 'the node agent replacing kube-proxy (kube-proxy flags and config file)', load: () => heavyCommand('proxy') },
  network: { summary: "the node's pod-network agent: routes to other Nodes' pods (VXLAN or host-gw), node file, egress masquerade", load: () => heavyCommand('network') },
  render: { summary: 'print the ruleset kpr would program for objects in files (no kernel)', load: () => heavyCommand('render') },
  inspect: { summary: 'show the Services the kernel implements and their backends (ipvsadm -Ln style, any mode)', load: () => heavyCommand('inspect') },
  explain: { summary: 'what a new connection PROTO SRC DST:PORT does here: frontend, backends, masquerade, or the rule refusing it', load: () => heavyCommand('explain') },
  lab: { summary: 'a one-node cluster in network namespaces, routed by kpr proxy (needs root)', load: () => heavyCommand('lab') },
  apiserver: { summary: 'serve Services, EndpointSlices and Nodes over the Kubernetes list/watch protocol (tests and lab)', load: () => heavyCommand('apiserver') },
  ipam: { summary: 'list, show and release pod IP allocations', load: () => import('../ipam/cli.ts') },
  version: { summary: 'print the version', load: async () => ({ main: async () => { process.stdout.write('kpr 0.1.0\n'); return 0; } }) },
  cni: { summary: 'the CNI plugin (run as kpr-cni)', load: () => import('../cni/main.ts') },
  'ipam-plugin': { summary: 'the IPAM plugin (run as kpr-ipam)', load: () => import('../cni/ipam-plugin.ts') },
  'lab-agent': { summary: 'traffic agent inside a lab namespace (internal)', load: () => heavyCommand('lab-agent') },
};

/** The long-running commands: they run with a daemon's malloc settings (bin/runtime-env.ts). */
const DAEMONS = new Set(['proxy', 'network']);

/** Commands that are not listed in the usage text. */
const HIDDEN = new Set(['lab-agent']);

/** Executable names that select a subcommand on their own (copied or linked into /opt/cni/bin). */
const byExecutableName: Record<string, string> = {
  'kpr-cni': 'cni',
  'kpr-ipam': 'ipam-plugin',
};

function usage(): string {
  const rows = Object.entries(commands)
    .filter(([name]) => !Object.values(byExecutableName).includes(name) && !HIDDEN.has(name))
    .map(([name, e]) => `  ${name.padEnd(10)} ${e.summary}`);
  return `usage: kpr <command> [flags]\n\ncommands:\n${rows.join('\n')}\n`;
}

/** The subcommand and its arguments: by the executable's name (kpr-cni), or the first argument. */
function commandLine(): { name: string | undefined; argv: string[] } {
  const args = process.argv.slice(2);
  const byName = byExecutableName[basename(process.argv0)];
  return byName ? { name: byName, argv: args } : { name: args[0], argv: args.slice(1) };
}

async function main(): Promise<number> {
  const { name, argv } = commandLine();
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const entry = commands[name];
  if (!entry) {
    process.stderr.write(`kpr: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  const cmd = await entry.load();
  return cmd.main(argv);
}

function run(): void {
  const name = commandLine().name ?? '';
  // Before anything else: kpr never runs under NODE_PATH, NODE_EXTRA_CA_CERTS and the like.
  enterRuntime(DAEMONS.has(name));
  const plugin = Object.values(byExecutableName).includes(name);
  // A reader that goes away (`kpr render | head`) ends the output, not with a stack trace.
  // The plugins write their one reply without process.stdout (cni/main.ts).
  if (!plugin) {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
    });
  }
  main().then(
    // A plugin has written its reply (synchronously, as its logs): it exits at once rather
    // than tearing down V8's heap and Node's environment first, which the runtime waits for.
    (code) => { if (plugin) process.exit(code); else process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`kpr: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    },
  );
}

run();
