// Structured JSON logs (pino). Secrets never reach a log line: the redact paths below cover the
// places a token or key can appear (headers, config objects, request bodies we log).
import process from 'node:process';
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const REDACT_PATHS: readonly string[] = [
  'token',
  'adminToken',
  'apiKey',
  'api_key',
  'key',
  'password',
  'authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  '*.token',
  '*.adminToken',
  '*.apiKey',
  '*.api_key',
  '*.password',
  '*.authorization',
  'config.token',
  'config.adminToken',
  'store',
  '*.store',
  'usageDb',
  '*.usageDb',
];

export interface LoggerOptions {
  /** Process name, e.g. "registry"; becomes the `name` field of every line. */
  name: string;
  level?: string;
  /** Where lines go; stdout by default (tests pass a capture stream or level "silent"). */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level ?? process.env.SWITCHBOARD_LOG_LEVEL ?? 'info',
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that drops everything (components default to it when none is injected). */
export const silentLogger: Logger = pino({ level: 'silent' });
