// Entry point of the traffic agent when run from source (tests): `node agent-main.ts`.
import { runAgent } from './agent.ts';

runAgent();
