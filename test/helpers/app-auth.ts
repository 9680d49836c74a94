import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { betterAuth } from 'better-auth';
import pg from 'pg';
import { getMigrations } from 'better-auth/db/migration';
import { livetail } from '../../src/better-auth/plugin.js';
import type { LivetailPluginOptions } from '../../src/better-auth/plugin.js';

/**
 * The better-auth of a stand-in for an adopter's app, unlike livetail's own in every way that broke
 * adopters: a cookie prefix, its own table and column names, a required additional field, one-hour
 * sessions refreshed on every check (updateAge 0, so any check that is allowed to refresh does).
 */
export function appAuthOptions(database: unknown, options: { baseURL?: string; plugin?: LivetailPluginOptions | false; trustedOrigins?: string[] } = {}) {
  return {
    database: database as never,
    secret: 'app-secret-0123456789abcdef0123456789abcdef',
    baseURL: options.baseURL ?? 'http://app.test',
    basePath: '/api/auth',
    trustedOrigins: options.trustedOrigins ?? ['http://app.test'],
    emailAndPassword: { enabled: true, autoSignIn: true },
    telemetry: { enabled: false },
    advanced: { cookiePrefix: 'myapp', disableOriginCheck: false },
    user: {
      modelName: 'app_users',
      fields: { emailVerified: 'email_verified', createdAt: 'created_at', updatedAt: 'updated_at' },
      additionalFields: { plan: { type: 'string' as const, required: true, input: true } },
    },
    session: {
      modelName: 'app_sessions',
      fields: { userId: 'user_id', expiresAt: 'expires_at', createdAt: 'created_at', updatedAt: 'updated_at', ipAddress: 'ip_address', userAgent: 'user_agent' },
      expiresIn: 3600,
      updateAge: 0,
    },
    account: { modelName: 'app_accounts', fields: { userId: 'user_id', accountId: 'account_id', providerId: 'provider_id', createdAt: 'created_at', updatedAt: 'updated_at' } },
    verification: { modelName: 'app_verifications' },
    logger: { disabled: true },
    plugins: options.plugin === false ? [] : [livetail(options.plugin ?? {})],
  };
}

export type AppAuth = ReturnType<typeof betterAuth<ReturnType<typeof appAuthOptions>>>;

type AppAuthSettings = Parameters<typeof appAuthOptions>[1];

/** The app's better-auth on `database`, after its own migrations created its tables there. */
async function migratedAppAuth(database: unknown, options: AppAuthSettings): Promise<AppAuth> {
  const authOptions = appAuthOptions(database, options);
  const { runMigrations } = await getMigrations(authOptions);
  await runMigrations();
  return betterAuth(authOptions);
}

/** The stand-in app's better-auth on a SQLite file of its own, migrated. */
export async function createAppAuth(options: AppAuthSettings = {}): Promise<{ auth: AppAuth; database: Database.Database; file: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-app-'));
  const file = path.join(dir, 'app.db');
  const database = new Database(file);
  database.pragma('journal_mode = WAL');
  return { auth: await migratedAppAuth(database, options), database, file };
}

/**
 * The stand-in app's better-auth on the PostgreSQL database at `url` (a pool of its own, which the caller
 * ends), migrated: its tables app_users, app_sessions, app_accounts, app_verifications with snake_case
 * columns, as an adopter's app would have them in the database livetail shares.
 */
export async function createAppAuthOnPostgres(url: string, options: AppAuthSettings = {}): Promise<{ auth: AppAuth; pool: pg.Pool }> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => {}); // an idle client cut when the test drops the database
  try {
    return { auth: await migratedAppAuth(pool, options), pool };
  } catch (error) {
    await pool.end();
    throw error;
  }
}

/** Signs up through the app's own better-auth API; returns the user and the Cookie header value. */
export async function appSignUp(auth: AppAuth): Promise<{ userId: string; cookie: string; email: string; password: string }> {
  const email = `app-user-${Math.random().toString(36).slice(2)}@example.com`;
  const password = 'correct horse battery staple';
  const res = await auth.api.signUpEmail({ body: { email, password, name: 'App User', plan: 'pro' }, asResponse: true });
  if (res.status !== 200) throw new Error(`app sign-up failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { user: { id: string } };
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith('myapp.session_token='));
  if (!cookie) throw new Error('no myapp.session_token cookie in the sign-up answer');
  return { userId: body.user.id, cookie, email, password };
}
