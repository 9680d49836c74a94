import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Config, ConfigError, loadConfig } from './config.js';
import { EarlyListener, LISTEN_BACKLOG, httpLimits } from './server/early-listener.js';
import type { LivetailServer } from './server/start-livetail.js';

/**
 * The process entry point: config from the environment, signals, exit codes. The port is bound first
 * (EarlyListener) and the rest of the server loaded after it, so that a restarted node accepts its
 * clients' reconnects while it starts; they are answered once it is ready.
 */
async function run(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }

  // Handlers are installed before the node starts: a signal that arrives right after the node logged that
  // it listens must find them (the default action would kill the process without a graceful shutdown).
  // A signal while the node is still starting (retrying its database, say) exits at once: nothing to drain.
  let node: LivetailServer | undefined;
  let stopping = false;
  const shutDown = (running: LivetailServer) => {
    const timer = setTimeout(() => {
      process.stderr.write(`shutdown took longer than ${config.shutdownTimeoutMs} ms: exiting\n`);
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    running.close().then(
      () => {
        clearTimeout(timer);
        process.exit(0);
      },
      (error) => {
        process.stderr.write(`shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting at once\n`);
      process.exit(1);
    }
    if (!node) {
      process.stderr.write(`${signal} while starting: exiting\n`);
      process.exit(1);
    }
    stopping = true;
    shutDown(node);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // An error thrown outside Express while handling a request (a 'finish' listener, a timer, a promise)
  // must not end the node; anything else still does, as Node's default would.
  const uncaught = (error: unknown) => {
    if (node?.app.failures.escaped(error)) return;
    process.stderr.write(`uncaught exception: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', uncaught);
  process.on('unhandledRejection', uncaught);

  let early: EarlyListener | undefined;
  try {
    early = new EarlyListener(httpLimits(config));
    await early.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG });
    const { startLivetail } = await import('./server/start-livetail.js');
    node = await startLivetail(config, { early });
  } catch (error) {
    early?.fail();
    process.stderr.write(`livetail could not start: ${startFailure(error, config)}\n`);
    process.exit(2);
  }
}

/** One line saying why the node could not start, and what to do where that is clear. */
function startFailure(error: unknown, config: Config): string {
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  if (syscall === 'listen' && code === 'EADDRINUSE') return `PORT=${config.port} is already in use: stop the other process or set PORT to a free port`;
  if (syscall === 'listen' && code === 'EACCES') return `PORT=${config.port} needs privileges this process lacks: use a port above 1023`;
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, ' ');
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  void run();
}
