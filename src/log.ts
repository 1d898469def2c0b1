/**
 * Structured JSON logs, one line per event on stdout, for journald to collect.
 */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  readonly debug: boolean;
}

/**
 * Creates a logger at level info, or debug when `debug` is set. Writes are
 * synchronous so that the last lines before a crash or process.exit (also
 * from worker threads, where pino registers no exit flush) are not lost.
 * `destination` replaces stdout, for tests.
 */
export function createLogger(options: LoggerOptions, destination?: DestinationStream): Logger {
  return pino(
    {
      level: options.debug ? 'debug' : 'info',
      // journald records the host; keep the pid to tell restarts apart.
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
