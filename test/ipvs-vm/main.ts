// Entry of the IPVS VM tests (bundled by run.sh): registers every test file, runs
// those matching argv[2] (all by default) and exits non-zero on a failure.
import './flows.ts';
import './ipvs.ts';
import './mode-switch.ts';
import './explain.ts';
import './bench.ts';
import { runTests } from './runner.ts';

process.exitCode = (await runTests(process.argv[2] ?? '')) === 0 ? 0 : 1;
