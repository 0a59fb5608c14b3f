// Named points where a test may have the process killed with SIGKILL, to prove that
// a crash at any step leaves nothing that blocks later calls. Inert unless
// KPR_TEST_KILL_AT names the point; the kill is a real kill -9 of this process.
export function faultPoint(step: string): void {
  if (process.env.KPR_TEST_KILL_AT === step) process.kill(process.pid, 'SIGKILL');
}
