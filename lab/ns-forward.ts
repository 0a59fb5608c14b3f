// Makes a TCP service of the test process (on the host's loopback) reachable on the
// loopback of a test namespace, without touching the host's interfaces: the test
// process serves a Unix socket (the filesystem is shared by all namespaces) and a socat
// inside the namespace forwards its own loopback port to that socket.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../lib/exec.ts';
import type { Netns } from './netns.ts';

export interface Forward {
  stop(): Promise<void>;
}

export async function forwardIntoNamespace(ns: Netns, target: { host: string; port: number }, listenPort: number): Promise<Forward> {
  const dir = mkdtempSync(join(tmpdir(), 'kpr-fwd-'));
  const sock = join(dir, 'fwd.sock');
  const server = net.createServer((c) => {
    const up = net.connect(target);
    c.pipe(up).pipe(c);
    const close = () => { c.destroy(); up.destroy(); };
    c.on('error', close);
    up.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  const socat = spawn('ip', ['netns', 'exec', ns.name, 'socat', `TCP-LISTEN:${listenPort},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${sock}`], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const out = await ns.exec('ss', ['-Hltn', `sport = :${listenPort}`], { allowFailure: true });
    if (out.stdout.trim()) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    async stop() {
      socat.kill('SIGKILL');
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
