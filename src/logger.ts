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
  const stream = destination ?? (options.format === 'pretty' ? pretty({ colorize: process.stdout.isTTY, sync: true }) : batchedStdout());
  return pino(config, stream);
}

/** How long a line may wait in the buffer before it is written. */
const FLUSH_INTERVAL_MS = 250;

/**
 * stdout, written in blocks of up to 4 KiB rather than one system call per line: under a connect storm
 * two lines per socket cost more CPU than the rest of the connect. A timer writes whatever waits at least
 * every 250 ms, and pino writes the rest synchronously when the process exits.
 */
function batchedStdout(): DestinationStream {
  const stream = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  setInterval(() => {
    try {
      stream.flush();
    } catch {
      // not ready yet (the file descriptor opens asynchronously) or already closed: the next tick retries
    }
  }, FLUSH_INTERVAL_MS).unref();
  return stream;
}
