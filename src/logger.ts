import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

/**
 * The server's own log: JSON lines (or pretty with LOG_FORMAT=pretty). Secrets are kept out twice:
 * nothing logs headers or log payloads in the first place, and these paths are redacted in case one slips.
 */
export function createLogger(
  options: { level: string; format: 'json' | 'pretty'; nodeId?: string },
  destination?: DestinationStream,
): Logger {
  const config: pino.LoggerOptions = {
    level: options.level,
    base: { node: options.nodeId },
    redact: {
      paths: [
        'cookie', '*.cookie', 'headers.cookie', '*.headers.cookie',
        'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
        'token', '*.token', 'password', '*.password', 'secret', '*.secret',
        'log', '*.log', 'logs', 'entry', 'body', '*.body',
      ],
      censor: '[redacted]',
    },
  };
  const stream = destination ?? (options.format === 'pretty' ? pretty({ colorize: process.stdout.isTTY, sync: true }) : pino.destination({ sync: false }));
  return pino(config, stream);
}
