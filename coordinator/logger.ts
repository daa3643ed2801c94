/**
 * pino JSON logs. Secrets are redacted wherever they could appear: the
 * config, request headers (admin tokens, call signatures) and URLs with
 * passwords are never written.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export const REDACT_PATHS = [
  'secret',
  '*.secret',
  'config.secret',
  'req.headers.authorization',
  'req.headers["dtx-signature"]',
  'headers.authorization',
  'headers["dtx-signature"]',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'dtx-coordinator' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}
