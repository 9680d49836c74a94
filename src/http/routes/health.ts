import { Router } from 'express';
import { z } from 'zod';
import type { Metrics } from '../../metrics/metrics.js';

/** What /readyz asks: each dependency's answer, and whether the node is shutting down. */
export interface Readiness {
  shuttingDown(): boolean;
  /** Named checks (store, bus, bullmq, ...) that resolve when the dependency answers. */
  checks: Record<string, () => Promise<void>>;
}

/** A dependency slower than this counts as down: a load balancer's probe must get an answer in time. */
const CHECK_TIMEOUT_MS = 2000;

/** What /healthz answers while the process serves. */
export const healthBodySchema = z.strictObject({ status: z.literal('ok') });

/** What /readyz answers (docs/openapi.yaml documents it; test/docs checks the examples against this). */
export const readyBodySchema = z.union([
  z.strictObject({ status: z.literal('ready'), checks: z.array(z.string()) }),
  z.strictObject({ status: z.enum(['unavailable', 'shutting-down']), error: z.string(), down: z.array(z.string()) }),
]);
export type ReadyBody = z.infer<typeof readyBodySchema>;

/**
 * GET /healthz (the process serves: liveness), /readyz (every dependency answers and the node is not
 * shutting down: readiness, so a load balancer stops routing here before sockets are closed) and
 * /metrics (Prometheus text format).
 */
export function healthRoutes(readiness: Readiness, metrics: Metrics): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' } satisfies z.infer<typeof healthBodySchema>);
  });

  router.get('/readyz', async (req, res) => {
    if (readiness.shuttingDown()) {
      res.status(503).json({ status: 'shutting-down', error: 'The node is shutting down', down: [] } satisfies ReadyBody);
      return;
    }
    const names = Object.keys(readiness.checks);
    const results = await Promise.all(
      names.map((name) => withTimeout(readiness.checks[name]!()).then(() => ({ name, up: true as const }), (error: unknown) => ({ name, up: false as const, error }))),
    );
    const failed = results.filter((r) => !r.up);
    const down = failed.map((r) => r.name);
    if (down.length === 0) {
      res.json({ status: 'ready', checks: names } satisfies ReadyBody);
      return;
    }
    // The body names what is down; the reason (a driver's message) goes to the server's log only.
    const reasons = Object.fromEntries(failed.map((r) => [r.name, 'error' in r ? reasonOf(r.error) : '']));
    req.log?.warn({ event: 'not-ready', down, reasons }, `not ready: ${down.join(', ')} not answering`);
    res.status(503).json({ status: 'unavailable', error: `Not answering: ${down.join(', ')}`, down } satisfies ReadyBody);
  });

  router.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  return router;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function withTimeout(promise: Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
