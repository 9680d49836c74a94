import { Router } from 'express';
import { z } from 'zod';
import type { Readiness } from '../../core/create-livetail.js';
import type { Metrics } from '../../metrics/metrics.js';

/** What /readyz asks: whether the node is shutting down, and each dependency's answer (`lt.ready()`). */
export interface ReadinessSource {
  shuttingDown(): boolean;
  ready(): Promise<Readiness>;
}

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
export function healthRoutes(readiness: ReadinessSource, metrics: Metrics): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' } satisfies z.infer<typeof healthBodySchema>);
  });

  router.get('/readyz', async (req, res) => {
    if (readiness.shuttingDown()) {
      res.status(503).json({ status: 'shutting-down', error: 'The node is shutting down', down: [] } satisfies ReadyBody);
      return;
    }
    const { checks } = await readiness.ready();
    const names = Object.keys(checks);
    const down = names.filter((name) => !checks[name]!.up);
    if (down.length === 0) {
      res.json({ status: 'ready', checks: names } satisfies ReadyBody);
      return;
    }
    // The body names what is down; the reason (a driver's message) goes to the server's log only.
    const reasons = Object.fromEntries(Object.entries(checks).flatMap(([name, check]) => (check.up ? [] : [[name, check.error]])));
    req.log?.warn({ event: 'not-ready', down, reasons }, `not ready: ${down.join(', ')} not answering`);
    res.status(503).json({ status: 'unavailable', error: `Not answering: ${down.join(', ')}`, down } satisfies ReadyBody);
  });

  router.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  return router;
}
