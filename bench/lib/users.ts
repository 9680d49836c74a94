import { createHmac, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { createStandaloneAuth } from '../../src/server/standalone-auth.js';
import { openDatabase } from '../../src/store/database.js';
import { BENCH_SECRET, Target } from './targets.js';

/** A benchmark user: its id, and the session cookie its sockets present. */
export interface BenchUser {
  userId: string;
  cookie: string;
}

/** A SQLite file with the users in it, copied for every livetail start so each starts fresh. */
export interface UserTemplate {
  dbFile: string;
  users: BenchUser[];
  /** How many users signed up through POST /api/auth/sign-up/email. */
  signedUp: number;
}

const SESSION_COOKIE = 'better-auth.session_token';
const PASSWORD = 'correct horse battery staple';

/**
 * Prepares `total` users: the first `signUps` sign up through livetail's real better-auth endpoint
 * (each costs a scrypt hash, ~0.1–0.2 s of CPU); the rest, needed only for the scale points, get their
 * user and session rows from better-auth's own internal adapter in the same tables — the session check at
 * upgrade treats them exactly alike — because 2,000 sign-ups would take the whole run's time budget.
 */
export async function prepareUsers(dir: string, total: number, signUps: number): Promise<UserTemplate> {
  fs.mkdirSync(dir, { recursive: true });
  const users: BenchUser[] = [];
  const server = await Target.start('livetail', { dir, nodeEnv: 'development' });
  try {
    let next = 0;
    const lane = async () => {
      while (next < Math.min(signUps, total)) {
        next++;
        users.push(await signUp(server.url));
      }
    };
    await Promise.all(Array.from({ length: 8 }, lane));
  } finally {
    await server.stop();
  }
  if (total > users.length) users.push(...(await createUsers(path.join(dir, 'livetail.db'), total - users.length)));
  return { dbFile: path.join(dir, 'livetail.db'), users, signedUp: Math.min(signUps, total) };
}

/** Copies a template database (the users', or one with logs stored in it) into a target's fresh directory as livetail.db. */
export function copyTemplate(dbFile: string, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const copy = path.join(dir, 'livetail.db');
  fs.copyFileSync(dbFile, copy);
  return copy;
}

async function signUp(url: string): Promise<BenchUser> {
  const email = `bench-${randomUUID()}@example.com`;
  const res = await fetch(`${url}/api/auth/sign-up/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: url },
    body: JSON.stringify({ email, password: PASSWORD, name: email.split('@')[0] }),
  });
  if (res.status !== 200) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { user: { id: string } };
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  if (!cookie) throw new Error('sign-up answered without a session cookie');
  return { userId: body.user.id, cookie };
}

/** Users and sessions through better-auth's internal adapter, with the cookie better-auth would set. */
async function createUsers(dbFile: string, count: number): Promise<BenchUser[]> {
  const database = await openDatabase({ kind: 'sqlite', path: dbFile });
  try {
    const auth = createStandaloneAuth({
      database: { db: database.db, type: 'sqlite' },
      db: database.db,
      dbType: 'sqlite',
      secret: BENCH_SECRET,
      baseUrl: 'http://127.0.0.1',
      trustedOrigins: ['http://127.0.0.1'],
      logger: pino({ level: 'silent' }),
    });
    const ctx = await auth.$context;
    const users: BenchUser[] = [];
    for (let i = 0; i < count; i++) {
      const email = `bench-${randomUUID()}@example.com`;
      const user = await ctx.internalAdapter.createUser({ email, name: email.split('@')[0]!, emailVerified: false }, { method: 'admin' });
      const session = await ctx.internalAdapter.createSession(user.id);
      users.push({ userId: user.id, cookie: `${SESSION_COOKIE}=${signedCookieValue(session.token)}` });
    }
    return users;
  } finally {
    await database.close();
  }
}

/** better-call's signed cookie: `value.base64(HMAC-SHA256(secret, value))`, URI-encoded. */
function signedCookieValue(value: string): string {
  const signature = createHmac('sha256', BENCH_SECRET).update(value).digest('base64');
  return encodeURIComponent(`${value}.${signature}`);
}
