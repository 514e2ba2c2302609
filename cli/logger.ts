import pino, { type Logger } from 'pino';

/** Paths pino blanks in every log line, wherever a secret could appear by mistake. */
const REDACT = [
  'token', '*.token', 'password', '*.password', 'key', '*.key', 'secret', '*.secret', 'kek', '*.kek',
  'req.headers.authorization', 'headers.authorization', 'authorization',
  // ioredis errors carry the command that failed, and a refused login's command holds the password.
  'err.command.args', 'err.cause.command.args', 'error.command.args',
];

/** Structured JSON logs on stdout; level from --log-level or FLEETKEY_LOG_LEVEL. */
export function createLogger(name: string, level = process.env.FLEETKEY_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } });
}
