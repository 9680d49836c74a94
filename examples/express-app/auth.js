import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { livetail } from 'livetail/better-auth';

/**
 * The app's own better-auth: email and password, a cookie prefix of its own (`shop.session_token`), its
 * users in the app's SQLite file. The livetail plugin tells livetail when a session ends, so signing out
 * closes that session's live log socket at once.
 */
export async function createAuth(database, { baseURL, secret }) {
  const options = {
    database,
    baseURL,
    secret,
    emailAndPassword: { enabled: true, autoSignIn: true },
    advanced: { cookiePrefix: 'shop' },
    telemetry: { enabled: false },
    plugins: [livetail()],
  };
  // The app runs better-auth's migrations for its own tables; livetail creates only livetail_* tables.
  const { runMigrations } = await getMigrations(options);
  await runMigrations();
  return betterAuth(options);
}
