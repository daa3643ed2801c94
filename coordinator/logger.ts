/**
 * pino JSON logs. Secrets are redacted wherever they could appear: the
 * config, request headers (admin tokens, call signatures) and URLs with
 * passwords are never written.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

/** The log fields pino replaces with `[redacted]`: keys, tokens and signatures. */
const REDACT_PATHS = [
  'secret',
  '*.secret',
  'config.secret',
  'req.headers.authorization',
  'req.headers["dtx-signature"]',
  'headers.authorization',
  'headers["dtx-signature"]',
];

/**
 * The coordinator's pino logger: JSON lines tagged `service: dtx-coordinator`,
 * with secrets redacted ({@link REDACT_PATHS}).
 *
 * @param level - a pino level (`fatal` … `trace`, `silent`), e.g. config.logLevel
 * @param destination - where to write; stdout by default
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'dtx-coordinator' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}
