import { CliError, EXIT } from './cli-error.js';
import { describeHttpError, requestJson } from './http.js';
import { endpoint } from './server-url.js';

export interface SessionOptions {
  email?: string;
  password?: string;
  cookie?: string;
  /** The Origin sent with the sign-in; must be one of the server's TRUSTED_ORIGINS. */
  origin?: string;
}

/** The session options of the command line, with LIVETAIL_PASSWORD and LIVETAIL_COOKIE as fallbacks. */
export function sessionOptions(values: SessionOptions, env: NodeJS.ProcessEnv): SessionOptions {
  return {
    email: values.email,
    password: values.password ?? env.LIVETAIL_PASSWORD,
    cookie: values.cookie ?? env.LIVETAIL_COOKIE,
    origin: values.origin,
  };
}

/**
 * A better-auth session cookie for the CLI: the one given (--cookie, LIVETAIL_COOKIE), or a new one
 * from signing in with --email and --password. better-auth accepts a sign-in only from a trusted
 * Origin, so the CLI sends the server URL's own origin (BASE_URL's origin by default), or --origin.
 */
export async function sessionCookie(server: URL, o: SessionOptions): Promise<string> {
  if (o.cookie) return normalizeCookie(o.cookie);
  if (!o.email || !o.password) {
    throw new CliError('Not signed in: give --email and --password (or LIVETAIL_PASSWORD), or --cookie "better-auth.session_token=…"', EXIT.USAGE);
  }
  const res = await requestJson(endpoint(server, '/api/auth/sign-in/email'), {
    method: 'POST',
    headers: { origin: o.origin ?? server.origin },
    body: { email: o.email, password: o.password },
  });
  if (res.status !== 200) {
    const hint = res.status === 403 ? ` — the Origin ${o.origin ?? server.origin} is not trusted: pass --origin with BASE_URL's origin, or add it to TRUSTED_ORIGINS` : '';
    throw new CliError(`Sign-in failed: ${describeHttpError(res)}${hint}`);
  }
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    // better-auth.session_token, or __Secure-better-auth.session_token behind https.
    .find((c) => c.split('=')[0]!.endsWith('session_token'));
  if (!cookie) throw new CliError('Sign-in answered without a session cookie: is --url a livetail server?');
  return cookie;
}

/** Accepts a bare token or `name=value`; a bare token becomes better-auth's default cookie name. */
function normalizeCookie(cookie: string): string {
  const trimmed = cookie.trim().replace(/^cookie:\s*/i, '');
  return trimmed.includes('=') ? trimmed : `better-auth.session_token=${trimmed}`;
}
