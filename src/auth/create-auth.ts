import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';

export interface AuthOptions {
  db: Kysely<any>;
  dbType: 'sqlite' | 'postgres';
  secret: string;
  baseUrl: string;
  trustedOrigins: string[];
  logger: Logger;
  /**
   * Called after better-auth deleted a session (sign-out, revocation, expiry cleanup), so the gateway
   * closes that session's sockets at once instead of at the next sweep.
   */
  onSessionDeleted(session: { id: string; userId: string }): void;
}

function authOptions(o: AuthOptions) {
  return {
    database: { db: o.db, type: o.dbType },
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
    databaseHooks: {
      session: {
        delete: {
          after: async (session: { id: string; userId: string }) => {
            o.onSessionDeleted({ id: session.id, userId: session.userId });
          },
        },
      },
    },
  };
}

export function createAuth(o: AuthOptions) {
  return betterAuth(authOptions(o));
}
export type Auth = ReturnType<typeof createAuth>;

/** Creates or upgrades better-auth's tables (user, session, account, verification). */
export async function migrateAuth(o: AuthOptions): Promise<void> {
  const { runMigrations } = await getMigrations(authOptions(o));
  await runMigrations();
}
