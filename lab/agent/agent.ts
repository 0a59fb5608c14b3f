// A process that lives inside one test namespace and does network things there on
// request: JSON lines on stdin, one JSON reply line per request on stdout. Tests run
// it through agent-main.ts with Node's own type stripping (erasable syntax only); the
// lab runs it as the hidden `kpr lab-agent` command of the single executable.
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { createInterface } from 'node:readline';

export type AgentRequest =
  | { id: number; op: 'listen'; proto: 'tcp' | 'udp'; port: number; name: string; host?: string }
  | { id: number; op: 'probe'; proto: 'tcp' | 'udp'; host: string; port: number; timeoutMs: number; payload?: string; localPort?: number }
  | { id: number; op: 'hold'; host: string; port: number; timeoutMs: number }
  | { id: number; op: 'send'; handle: number; data: string }
  | { id: number; op: 'connectTimes'; host: string; port: number; count: number }
  | { id: number; op: 'httpGet'; url: string; timeoutMs: number };

export interface AgentReply {
  id: number;
  ok: boolean;
  /** The server's answer line ('<name> <peer address>'). */
  reply?: string;
  /** A held connection's handle, for 'send'. */
  handle?: number;
  /** Why the request failed: an errno code (ECONNREFUSED…) or 'timeout'. */
  error?: string;
}

const held = new Map<number, net.Socket>();
let nextHandle = 1;

function answer(r: AgentReply): void {
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

/** Servers answer "<name> <peer address>" so a probe sees which backend it reached and whether it was masqueraded. */
function listen(req: Extract<AgentRequest, { op: 'listen' }>): void {
  const host = req.host ?? '::';
  if (req.proto === 'tcp') {
    const server = net.createServer((sock) => {
      const peer = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
      sock.on('error', () => {});
      // Answer each line so that a held connection can prove it is still alive.
      sock.write(`${req.name} ${peer}\n`);
      sock.on('data', () => sock.write(`${req.name} ${peer}\n`));
    });
    server.on('error', (e) => answer({ id: req.id, ok: false, error: e.message }));
    server.listen({ port: req.port, host, ipv6Only: false }, () => answer({ id: req.id, ok: true }));
    return;
  }
  const sock = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
  sock.on('message', (_msg, rinfo) => {
    sock.send(`${req.name} ${rinfo.address.replace(/^::ffff:/, '')}\n`, rinfo.port, rinfo.address);
  });
  sock.on('error', (e) => answer({ id: req.id, ok: false, error: e.message }));
  sock.bind({ port: req.port, address: host }, () => answer({ id: req.id, ok: true }));
}

function probeTcp(req: Extract<AgentRequest, { op: 'probe' }>): void {
  const sock = net.connect({ host: req.host, port: req.port, localPort: req.localPort });
  let buf = '';
  const done = (r: AgentReply) => { clearTimeout(timer); sock.destroy(); answer(r); };
  const timer = setTimeout(() => done({ id: req.id, ok: false, error: 'timeout' }), req.timeoutMs);
  sock.on('data', (d) => {
    buf += d.toString();
    if (buf.includes('\n')) done({ id: req.id, ok: true, reply: buf.trim() });
  });
  sock.on('error', (e: NodeJS.ErrnoException) => done({ id: req.id, ok: false, error: e.code ?? e.message }));
}

function probeUdp(req: Extract<AgentRequest, { op: 'probe' }>): void {
  const sock = dgram.createSocket({ type: req.host.includes(':') ? 'udp6' : 'udp4' });
  const done = (r: AgentReply) => { clearTimeout(timer); sock.close(); answer(r); };
  const timer = setTimeout(() => done({ id: req.id, ok: false, error: 'timeout' }), req.timeoutMs);
  // A connected socket reports an ICMP port unreachable (REJECT) as ECONNREFUSED.
  sock.on('error', (e: NodeJS.ErrnoException) => done({ id: req.id, ok: false, error: e.code ?? e.message }));
  sock.on('message', (m) => done({ id: req.id, ok: true, reply: m.toString().trim() }));
  sock.bind({ port: req.localPort ?? 0 }, () => {
    sock.connect(req.port, req.host, () => sock.send(req.payload ?? 'probe'));
  });
}

/** Opens a TCP connection and keeps it, for tests of established traffic across changes. */
function hold(req: Extract<AgentRequest, { op: 'hold' }>): void {
  const sock = net.connect({ host: req.host, port: req.port });
  const timer = setTimeout(() => { sock.destroy(); answer({ id: req.id, ok: false, error: 'timeout' }); }, req.timeoutMs);
  sock.once('data', (d) => {
    clearTimeout(timer);
    const handle = nextHandle++;
    held.set(handle, sock);
    answer({ id: req.id, ok: true, handle, reply: d.toString().trim() });
  });
  sock.on('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); answer({ id: req.id, ok: false, error: e.code ?? e.message }); });
}

/** Sends a line on a held connection and waits for the server's answer. */
function send(req: Extract<AgentRequest, { op: 'send' }>): void {
  const sock = held.get(req.handle);
  if (!sock || sock.destroyed) { answer({ id: req.id, ok: false, error: 'closed' }); return; }
  const timer = setTimeout(() => { sock.off('data', onData); answer({ id: req.id, ok: false, error: 'timeout' }); }, 3000);
  const onData = (d: Buffer) => { clearTimeout(timer); answer({ id: req.id, ok: true, reply: d.toString().trim() }); };
  sock.once('data', onData);
  sock.write(`${req.data}\n`);
}

/**
 * Times `count` sequential TCP connects (SYN to established) in the agent itself, so
 * the figures hold no IPC; the reply is the times in microseconds, comma-separated.
 */
async function connectTimes(req: Extract<AgentRequest, { op: 'connectTimes' }>): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < req.count; i++) {
    const t0 = process.hrtime.bigint();
    const err = await new Promise<string | undefined>((resolve) => {
      const sock = net.connect({ host: req.host, port: req.port }, () => { sock.destroy(); resolve(undefined); });
      sock.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    if (err) { answer({ id: req.id, ok: false, error: err }); return; }
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  answer({ id: req.id, ok: true, reply: times.map((t) => t.toFixed(1)).join(',') });
}

/** An HTTP GET from inside the namespace; the reply is "<status> <body>". */
async function httpGet(req: Extract<AgentRequest, { op: 'httpGet' }>): Promise<void> {
  try {
    const res = await fetch(req.url, { signal: AbortSignal.timeout(req.timeoutMs) });
    answer({ id: req.id, ok: true, reply: `${res.status} ${await res.text()}` });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    answer({ id: req.id, ok: false, error: err.cause?.code ?? err.name });
  }
}

/** Serves requests from stdin until it closes. */
export function runAgent(): void {
  createInterface({ input: process.stdin }).on('line', (line) => {
    const req = JSON.parse(line) as AgentRequest;
    if (req.op === 'listen') listen(req);
    else if (req.op === 'probe') (req.proto === 'tcp' ? probeTcp : probeUdp)(req);
    else if (req.op === 'hold') hold(req);
    else if (req.op === 'connectTimes') void connectTimes(req);
    else if (req.op === 'httpGet') void httpGet(req);
    else send(req);
  });
  process.stdin.on('end', () => process.exit(0));
}
