// The controlling side of agent.ts: starts an agent inside a namespace and sends it requests.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';
import type { Netns } from '../netns.ts';
import type { AgentReply } from './agent.ts';

export type { AgentReply };

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;
export type AgentCall = Distribute<import('./agent.ts').AgentRequest>;

/** From source, Node runs the agent file; inside the single executable, kpr runs it. */
function agentCommand(): string[] {
  return isSea() ? [process.execPath, 'lab-agent'] : [process.execPath, fileURLToPath(new URL('./main.ts', import.meta.url))];
}

export class Agent {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, (r: AgentReply) => void>();
  private nextId = 1;

  constructor(readonly ns: Netns) {
    this.proc = spawn('ip', ['netns', 'exec', ns.name, ...agentCommand()], { stdio: 'pipe' });
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(`[agent ${ns.name}] ${d.toString()}`));
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const reply = JSON.parse(line) as AgentReply;
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
  }

  call(req: AgentCall): Promise<AgentReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.proc.stdin.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }

  async listen(proto: 'tcp' | 'udp', port: number, name: string): Promise<void> {
    const r = await this.call({ op: 'listen', proto, port, name });
    if (!r.ok) throw new Error(`agent in ${this.ns.name}: listen ${proto}/${port}: ${r.error}`);
  }

  stop(): void {
    this.proc.stdin.end();
    this.proc.kill('SIGKILL');
  }
}
