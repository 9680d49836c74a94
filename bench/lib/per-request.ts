import type { Profile } from './profiles.js';
import type { Results } from './results.js';
import { type Reruns, type Say, describe, fmt, rounds } from './rounds.js';
import { type RunContext, Stage } from './stage.js';
import type { BenchUser } from './users.js';
import { ingestWindow } from './windows.js';

/** The per-request reference target by name (bench/targets/bare-express.ts). */
export const BARE_EXPRESS = 'bare-express';

/**
 * Per request: POSTs of 1 (then 10, …) entries with a few outstanding and nobody listening, livetail
 * (SQLite, its service token) and bare Express 5 + express.json() answering 201 with the body, in
 * interleaved rounds in one stage: the server CPU per POST of each.
 */
export async function measurePerRequest(ctx: RunContext, profile: Profile, users: BenchUser[], rerun: Reruns, say: Say): Promise<NonNullable<Results['perRequest']>> {
  const o = profile.perRequest!;
  const specs = [
    { name: 'livetail', kind: 'livetail' as const },
    { name: BARE_EXPRESS, kind: 'bare-express' as const },
  ];
  const stage = await Stage.start(ctx, 'per-request', specs, users);
  const batches: NonNullable<Results['perRequest']>['batches'] = {};
  try {
    for (const batchSize of o.batches) {
      batches[batchSize] = await rounds(profile, specs, o, rerun, (name, t) => ingestWindow(stage, name, { ...t, inFlight: o.inFlight, batchSize }),
        (name, w) => say(`per request, POSTs of ${batchSize} ${name}: ${fmt(w.requests / w.cpu.seconds)} POSTs/s, ${w.serverMicrosPerRequest.toFixed(0)} µs server CPU each${describe(w)}`),
      );
    }
  } finally {
    await stage.stop();
  }
  return { inFlight: o.inFlight, batches };
}
