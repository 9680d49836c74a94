import { betterAuth } from 'better-auth';
import { getSchema } from 'better-auth/db';
import { getMigrations } from 'better-auth/db/migration';
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import { livetail } from '../better-auth/plugin.js';

/** What the standalone server's own better-auth is built from. */
export interface StandaloneAuthOptions {
  /** The database handle better-auth gets: a better-sqlite3 Database or a pg.Pool (DATABASE_URL). */
  database: unknown;
  /** Livetail's own Kysely on the same database, for the schema check and its marker. */
  db: Kysely<any>;
  dbType: 'sqlite' | 'postgres';
  secret: string;
  baseUrl: string;
  trustedOrigins: string[];
  logger: Logger;
}

function authOptions(o: StandaloneAuthOptions) {
  return {
    database: o.database as never,
    secret: o.secret,
    baseURL: o.baseUrl,
    basePath: '/api/auth',
    trustedOrigins: o.trustedOrigins,
    emailAndPassword: { enabled: true, autoSignIn: true },
    telemetry: { enabled: false },
    advanced: {
      useSecureCookies: o.baseUrl.startsWith('https://'),
      // Explicit, because better-auth turns its Origin check off when NODE_ENV=test, and then no test
      // could show that a sign-in from an untrusted page is refused.
      disableOriginCheck: false,
    },
    // cookieCache stays off: a cached session cookie would keep a signed-out session valid until maxAge.
    session: { cookieCache: { enabled: false } },
    logger: {
      log: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => o.logger[level]({ component: 'better-auth' }, message),
    },
    // Sign-out and revocation reach the core (createLivetail attaches to the plugin).
    plugins: [livetail()],
  };
}

/** The standalone server's own better-auth: email and password sign-up, its users in DATABASE_URL. */
export function createStandaloneAuth(o: StandaloneAuthOptions) {
  return betterAuth(authOptions(o));
}
export type StandaloneAuth = ReturnType<typeof createStandaloneAuth>;

/** A database whose auth tables livetail would have to alter: refused, naming the table. */
export class ForeignAuthTablesError extends Error {
  constructor(readonly table: string, columns: string[]) {
    super(
      `DATABASE_URL already has a table "${table}" that livetail's built-in auth would have to alter (it lacks ${columns.join(', ')}); ` +
        'livetail never alters tables it did not create. If this is your app\'s database, run livetail beside your app in proxy mode: set AUTH_SESSION_URL=https://<your app>/api/auth/get-session',
    );
    this.name = 'ForeignAuthTablesError';
  }
}

const MARKER_TABLE = 'livetail_meta';

/**
 * Creates better-auth's tables (user, session, account, verification) for the standalone server, or
 * upgrades those it created itself. It never alters a table it did not create: a database whose auth
 * tables have another shape (an app's, with its own fields) is refused with ForeignAuthTablesError, and
 * left exactly as it was (nothing is created before the check).
 * Which tables are livetail's own is kept in `livetail_meta`. A database of a release before that marker
 * is recognised by livetail's migration table next to auth tables that have only columns of livetail's
 * own better-auth schema: the migration table alone proves nothing, since livetail in proxy or embedded
 * mode creates it in the app's database too.
 */
export async function migrateStandaloneAuth(o: StandaloneAuthOptions): Promise<void> {
  const options = authOptions(o);
  const schema = getSchema(options);
  const columns = new Map((await o.db.introspection.getTables()).map((t) => [t.name, t.columns.map((c) => c.name)]));
  const marker = columns.has(MARKER_TABLE)
    ? await o.db.selectFrom(MARKER_TABLE).select('value').where('key', '=', 'auth_tables').executeTakeFirst()
    : undefined;
  const authTables = Object.keys(schema).filter((table) => columns.has(table));
  const ofEarlierLivetail =
    columns.has('livetail_migration') && authTables.every((table) => columns.get(table)!.every((column) => column === 'id' || column in schema[table]!.fields));
  if (marker === undefined && !ofEarlierLivetail) {
    // Checked before better-auth computes its migrations: on a populated table it may refuse them itself,
    // in words that do not say whose table it is.
    for (const table of authTables) {
      const missing = Object.keys(schema[table]!.fields).filter((field) => !columns.get(table)!.includes(field));
      if (missing.length > 0) throw new ForeignAuthTablesError(table, missing);
    }
  }
  if (authTables.length === 0) {
    const others = [...columns.keys()].filter((t) => !t.startsWith('livetail_') && !t.startsWith('kysely_'));
    if (others.length > 0) {
      o.logger.warn(
        { event: 'auth-tables-created', others: others.slice(0, 10) },
        `creating better-auth's tables in a database that already has tables of another application (${others.slice(0, 5).join(', ')}): if this is your app's database, run livetail in proxy mode (AUTH_SESSION_URL) instead`,
      );
    }
  }
  const migrations = await getMigrations(options);
  await migrations.runMigrations();
  await o.db.schema.createTable(MARKER_TABLE).ifNotExists().addColumn('key', 'text', (c) => c.primaryKey()).addColumn('value', 'text', (c) => c.notNull()).execute();
  await sql`insert into livetail_meta (key, value) values ('auth_tables', 'livetail') on conflict (key) do nothing`.execute(o.db);
}
