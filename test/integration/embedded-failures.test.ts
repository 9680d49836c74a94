import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createLivetail } from '../../src/core/create-livetail.js';
import { DependencyUnavailableError } from '../../src/core/dependency.js';
import { LivetailOptionsError } from '../../src/core/options.js';
import { appSignUp, createAppAuth } from '../helpers/app-auth.js';
import { type EmbeddedApp, startEmbeddedApp } from '../helpers/embedded-app.js';
import { freePort } from '../helpers/services.js';
import { refusedUpgrade } from '../helpers/ws-client.js';

/** A loopback port nobody listens on (taken, then released). */
const closedPort = freePort;

describe('createLivetail: failure modes an adopter meets (docs/embedding.md)', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const appAuth = async () => {
    const app = await createAppAuth();
    cleanups.push(() => void app.database.close());
    return app;
  };

  it('refuses an in-memory SQLite database at once, saying why (not as a dependency to wait for)', async () => {
    const { auth } = await appAuth();
    const memory = new Database(':memory:');
    cleanups.push(() => void memory.close());
    const error = await createLivetail({ auth, database: memory }).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(DependencyUnavailableError);
    expect(String(error)).toMatch(/in-memory SQLite database cannot be shared/);
  });

  it('refuses a bad option with LivetailOptionsError naming it', async () => {
    const { auth, database } = await appAuth();
    await expect(createLivetail({ auth, database, maxLogsPerUser: 0 })).rejects.toThrow(LivetailOptionsError);
    await expect(createLivetail({ auth, database, maxLogsPerUser: 0 })).rejects.toThrow(/maxLogsPerUser/);
    await expect(createLivetail({ database } as never)).rejects.toThrow(/exactly one of `auth`/);
  });

  it('a database that does not answer at start: DependencyUnavailableError naming the database (the caller may retry)', async () => {
    const { auth } = await appAuth();
    const error = await createLivetail({ auth, database: `postgres://postgres@127.0.0.1:${await closedPort()}/none`, storeTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(error).toMatchObject({ dependency: 'database', message: expect.stringMatching(/^database not answering: /) });
  });

  it('a Redis that does not answer at start: DependencyUnavailableError naming Redis, and nothing stays open', async () => {
    const { auth, database } = await appAuth();
    const error = await createLivetail({ auth, database, redis: `redis://127.0.0.1:${await closedPort()}` }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(error).toMatchObject({ dependency: 'Redis' });
  });

  it('the app’s better-auth cannot reach its own database: an upgrade is answered 503 STORE_UNAVAILABLE (not 401), with Retry-After', async () => {
    const { auth, database } = await appAuth();
    const app: EmbeddedApp = await startEmbeddedApp(auth, { database });
    cleanups.push(() => app.close());
    const user = await appSignUp(auth);
    database.close(); // the app's connection; livetail's own stays
    const refused = await refusedUpgrade(app.wsUrl, { cookie: user.cookie });
    expect(refused).toMatchObject({ status: 503, body: { code: 'STORE_UNAVAILABLE' } });
    const res = await fetch(`${app.url}/api/logs`, { headers: { cookie: user.cookie } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(await res.json()).toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});
