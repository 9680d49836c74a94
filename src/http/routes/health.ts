import { Router } from 'express';
import type { Metrics } from '../../metrics/metrics.js';

/** What /readyz asks: each dependency's answer, and whether the node is shutting down. */
export interface Readiness {
  shuttingDown(): boolean;
  /** Named checks that resolve when the dependency answers. */
  checks: Record<string, () => Promise<void>>;
}

const CHECK_TIMEOUT_MS = 2000;

/** GET /healthz (the process serves), /readyz (its dependencies answer) and /metrics (Prometheus). */
export function healthRoutes(readiness: Readiness, metrics: Metrics): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    if (readiness.shuttingDown()) {
      res.status(503).json({ status: 'shutting-down', error: 'The node is shutting down', down: [] });
      return;
    }
    const names = Object.keys(readiness.checks);
    const results = await Promise.all(names.map((name) => withTimeout(readiness.checks[name]!()).then(() => true, () => false)));
    const down = names.filter((_, i) => !results[i]);
    if (down.length > 0) res.status(503).json({ status: 'unavailable', error: `Not answering: ${down.join(', ')}`, down });
    else res.json({ status: 'ready', checks: names });
  });

  router.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  return router;
}

function withTimeout(promise: Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
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
