import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { betterAuth } from 'better-auth';
import pg from 'pg';
import { getMigrations } from 'better-auth/db/migration';
import { livetail } from '../../src/better-auth/plugin.js';
import type { LivetailPluginOptions } from '../../src/better-auth/plugin.js';
import type { BetterAuthOptions } from 'better-auth';

/**
 * The better-auth of a stand-in for an adopter's app, unlike livetail's own in every way that broke
 * adopters: a cookie prefix, its own table and column names, a required additional field, one-hour
 * sessions refreshed on every check (updateAge 0, so any check that is allowed to refresh does).
 */
export function appAuthOptions(
  database: unknown,
  options: { baseURL?: string; plugin?: LivetailPluginOptions | false; trustedOrigins?: string[]; secondaryStorage?: SecondaryStorage } = {},
) {
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
    ...(options.secondaryStorage ? { secondaryStorage: options.secondaryStorage } : {}),
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
export async function appSignUp(auth: AppAuthApi): Promise<{ userId: string; cookie: string; email: string; password: string }> {
  const email = `app-user-${Math.random().toString(36).slice(2)}@example.com`;
  const password = 'correct horse battery staple';
  const res = await auth.api.signUpEmail({ body: { email, password, name: 'App User', plan: 'pro' }, asResponse: true });
  const body = (await answerOf(res, 'sign-up')) as { user: { id: string } };
  return { userId: body.user.id, cookie: sessionCookieOf(res), email, password };
}

/** better-auth's secondary storage interface, the shape an app's Redis or memory store has. */
export type SecondaryStorage = NonNullable<BetterAuthOptions['secondaryStorage']>;

/** A SQLite file of the app's own, in WAL mode (livetail opens its own connection beside it). */
export function appSqliteDatabase(): { database: Database.Database; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livetail-app-'));
  const file = path.join(dir, 'app.db');
  const database = new Database(file);
  database.pragma('journal_mode = WAL');
  return { database, file };
}

/** `betterAuth(options)` for any options (the admin plugin's too) once its tables exist (better-auth's own migrations, as an app would run them). */
export async function migratedAuth<O extends Parameters<typeof getMigrations>[0]>(options: O): Promise<ReturnType<typeof betterAuth<O>>> {
  const { runMigrations } = await getMigrations(options);
  await runMigrations();
  return betterAuth(options);
}

/** Any of the stand-in app's better-auth instances (with or without more plugins): the calls these helpers make. */
interface AppAuthApi {
  api: {
    signUpEmail(context: { body: Record<string, unknown>; asResponse: true }): Promise<Response>;
    signInEmail(context: { body: { email: string; password: string }; asResponse: true }): Promise<Response>;
  };
}

/** Signs the user in again through the app's API: a second session of the same user; returns its Cookie value. */
export async function appSignIn(auth: AppAuthApi, user: { email: string; password: string }): Promise<string> {
  const res = await auth.api.signInEmail({ body: { email: user.email, password: user.password }, asResponse: true });
  await answerOf(res, 'sign-in');
  return sessionCookieOf(res);
}

async function answerOf(res: Response, what: string): Promise<unknown> {
  if (res.status !== 200) throw new Error(`app ${what} failed: ${res.status} ${await res.text()}`);
  return res.json();
}

/** The `<prefix>.session_token=…` pair of an answer's Set-Cookie headers, ready for a Cookie header. */
export function sessionCookieOf(res: Response, prefix = 'myapp'): string {
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith(`${prefix}.session_token=`));
  if (!cookie) throw new Error(`no ${prefix}.session_token cookie in the answer`);
  return cookie;
}

/**
 * An app's secondary storage kept in memory: a Map behind better-auth's own interface (what an app's
 * Redis adapter implements), with the TTLs better-auth asks for.
 */
export function memorySecondaryStorage(): SecondaryStorage {
  const entries = new Map<string, { value: string; until: number | undefined }>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (entry?.until !== undefined && entry.until <= Date.now()) entries.delete(key);
    return entries.get(key);
  };
  const untilOf = (ttl: number | undefined) => (ttl ? Date.now() + ttl * 1000 : undefined);
  return {
    get: async (key) => live(key)?.value ?? null,
    set: async (key, value, ttl) => void entries.set(key, { value, until: untilOf(ttl) }),
    delete: async (key) => void entries.delete(key),
    getAndDelete: async (key) => {
      const value = live(key)?.value ?? null;
      entries.delete(key);
      return value;
    },
    increment: async (key, ttl) => {
      const entry = live(key);
      const count = (entry ? Number(entry.value) : 0) + 1;
      entries.set(key, { value: String(count), until: entry ? entry.until : untilOf(ttl) });
      return count;
    },
  };
}
