import { randomUUID } from 'node:crypto';
import { INGEST_TOKEN, TEST_ORIGIN } from './server.js';

export interface TestUser {
  email: string;
  password: string;
  userId: string;
  /** `better-auth.session_token=...`, ready for a Cookie header. */
  cookie: string;
}

const PASSWORD = 'correct horse battery staple';

interface SignUpFields {
  email: string;
  password: string;
  name: string;
  /** The Origin the request comes from (TEST_ORIGIN by default). */
  origin: string;
}

/**
 * POST /api/auth/sign-up/email, as a browser page on `origin` sends it, for a new email unless one is
 * given: the raw response, for tests of the answer itself (status, Set-Cookie, headers).
 */
export function signUpRequest(url: string, fields: Partial<SignUpFields> = {}): Promise<Response> {
  const email = fields.email ?? `user-${randomUUID()}@example.com`;
  return fetch(`${url}/api/auth/sign-up/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: fields.origin ?? TEST_ORIGIN },
    body: JSON.stringify({ email, password: fields.password ?? PASSWORD, name: fields.name ?? email.split('@')[0] }),
  });
}

/** Signs a new user up through better-auth's own endpoint and returns their session cookie. */
export async function signUp(url: string, overrides: Partial<Omit<SignUpFields, 'origin'>> = {}): Promise<TestUser> {
  const email = overrides.email ?? `user-${randomUUID()}@example.com`;
  const password = overrides.password ?? PASSWORD;
  const res = await signUpRequest(url, { ...overrides, email, password });
  if (res.status !== 200) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { user: { id: string } };
  return { email, password, userId: body.user.id, cookie: cookieFrom(res) };
}

/** Signs an existing user in: a new session with its own cookie. */
export async function signIn(url: string, user: { email: string; password: string }): Promise<string> {
  const res = await fetch(`${url}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: TEST_ORIGIN },
    body: JSON.stringify({ email: user.email, password: user.password }),
  });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
  return cookieFrom(res);
}

export async function signOut(url: string, cookie: string): Promise<Response> {
  return fetch(`${url}/api/auth/sign-out`, { method: 'POST', headers: { cookie, origin: TEST_ORIGIN } });
}

function cookieFrom(res: Response): string {
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.includes('session_token='));
  if (!cookie) throw new Error('no session cookie in the response');
  return cookie;
}

export type Credentials = { cookie: string } | { token: string } | Record<string, never>;

function authHeaders(auth: Credentials): Record<string, string> {
  if ('cookie' in auth) return { cookie: auth.cookie, origin: TEST_ORIGIN };
  if ('token' in auth) return { authorization: `Bearer ${auth.token}` };
  return {};
}

/** A request to the REST API; the body is sent as JSON unless it is already a string. */
export async function api(
  url: string,
  method: string,
  path: string,
  auth: Credentials,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...authHeaders(auth),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed, headers: res.headers };
}

export const service = { token: INGEST_TOKEN };

/** A log entry as a producer would send it. */
export function entry(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    emailAccountId: 'acct-1',
    level: 'info',
    command: 'FETCH',
    data: { raw: 'A1 FETCH 1:* (FLAGS)', parsed: { sequence: '1:*' }, response: 'A1 OK', duration: 12, error: null },
    ...overrides,
  };
}
