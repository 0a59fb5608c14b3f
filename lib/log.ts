import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr (stdout belongs to command output and, for the
 * CNI plugin, to the result). Synchronous so that nothing is lost on exit.
 */
export function createLogger(name: string, level = process.env.KPR_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
