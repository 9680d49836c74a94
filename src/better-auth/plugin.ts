import type { BetterAuthPlugin } from 'better-auth';
import { createAuthMiddleware, getSessionFromCtx, isAPIError } from 'better-auth/api';
import type { SessionEnd } from '../sessions/session-end.js';

/** Options of the livetail better-auth plugin. */
export interface LivetailPluginOptions {
  /**
   * livetail runs as its own service (a sidecar, proxy auth mode): each end is POSTed to
   * `<url>/api/sessions/end` with `Authorization: Bearer <token>` (livetail's INGEST_TOKEN). Without it,
   * ends go to the livetail core created in this process with `createLivetail({ auth })`.
   */
  sidecar?: {
    /** livetail's base URL, e.g. `http://livetail:3002`. */
    url: string;
    token: string;
    /** How long one POST may take. Default 2000 ms. */
    timeoutMs?: number;
  };
}

/** What createLivetail attaches to the plugin: told of every end the app's better-auth makes. */
export type SessionEndListener = (end: SessionEnd) => unknown;

/** How long a sign-out waits for livetail to take its end before the app answers anyway. */
const REPORT_TIMEOUT_MS = 2000;

/** The cores (in this process) the plugin tells of each end: its `$livetail`, found by `attachToPlugin`. */
export interface PluginLink {
  listeners: Set<SessionEndListener>;
}

type LinkedPlugin = { id: string; $livetail?: PluginLink };

/** Endpoint paths after which sessions stop existing, for apps whose sessions live only in secondary storage. */
const ENDING_PATHS = new Set(['/sign-out', '/revoke-session', '/revoke-sessions', '/revoke-other-sessions']);
/**
 * The admin plugin's: reported only once they succeeded (an after hook), since the caller's right to
 * call them is checked by the endpoint itself and a refused call must end nothing.
 */
const ADMIN_ENDING_PATHS = new Set(['/admin/revoke-user-session', '/admin/revoke-user-sessions']);
/** Bound on sessions looked up for an admin revocation still in progress. */
const MAX_PENDING_REVOCATIONS = 1000;

/**
 * The livetail plugin for the app's better-auth: `betterAuth({ ..., plugins: [livetail()] })`. It hears
 * every way a session ends — sign-out, revoking one session, all of a user's or all others, a ban, a
 * deleted user — through better-auth's own database hooks (and, for sessions kept only in secondary
 * storage, where those hooks do not fire, through hooks on the endpoints that end them), and tells
 * livetail, which closes the session's sockets with 4401 on every node within a second.
 *
 * Reporting never fails the app's request: an error is logged and the periodic recheck catches up.
 */
export function livetail(options: LivetailPluginOptions = {}) {
  const link: PluginLink = { listeners: new Set() };
  let log: (message: string, error?: unknown) => void = () => {};

  /**
   * Tells every attached core and the sidecar, and resolves once they have taken the end (at most
   * REPORT_TIMEOUT_MS): the app's sign-out answers only after every node can have heard it, so the cookie
   * cannot open a socket anywhere once the app said it is signed out. Never rejects.
   */
  const report = async (end: SessionEnd): Promise<void> => {
    const reports = [...link.listeners].map((listener) =>
      Promise.resolve()
        .then(() => listener(end))
        .catch((error: unknown) => log('livetail could not end the session', error)),
    );
    if (options.sidecar) reports.push(postEnd(options.sidecar, end).catch((error: unknown) => log('livetail sidecar did not take the session end', error)));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, REPORT_TIMEOUT_MS)));
    await Promise.race([Promise.all(reports), timeout]);
    clearTimeout(timer);
  };

  /** Only where sessions are not database rows do the endpoint hooks add anything to the database hooks. */
  let sessionsInDatabase = true;
  /**
   * The session an admin's revoke-user-session names, looked up (by its token) before the endpoint
   * deletes it, and reported after the endpoint succeeded.
   */
  const pendingRevocations = new Map<string, SessionEnd | null>();

  return {
    id: 'livetail',
    $livetail: link,
    init(ctx) {
      log = (message, error) => ctx.logger.error(`${message}: ${(error as Error)?.message ?? String(error)}`);
      sessionsInDatabase = !ctx.options.secondaryStorage || ctx.options.session?.storeSessionInDatabase === true;
      return {
        options: {
          databaseHooks: {
            session: {
              delete: {
                after: async (session: { id: string; userId: string }) => report({ sessionId: session.id, userId: session.userId }),
              },
            },
            user: {
              delete: { after: async (user: { id: string }) => report({ userId: user.id }) },
              // The admin plugin's ban: its session revocation fires the session hook too when sessions are rows.
              update: { after: async (user: { id: string; banned?: unknown }) => (user.banned === true ? report({ userId: user.id }) : undefined) },
            },
          },
        },
      };
    },
    hooks: {
      before: [
        {
          matcher: (ctx) => !sessionsInDatabase && ENDING_PATHS.has(ctx.path ?? ''),
          handler: createAuthMiddleware(async (ctx) => {
            const current = await getSessionFromCtx(ctx).catch(() => null);
            if (!current) return;
            const { id: sessionId, userId } = current.session;
            if (ctx.path === '/sign-out') await report({ sessionId, userId });
            else if (ctx.path === '/revoke-sessions') await report({ userId });
            else if (ctx.path === '/revoke-other-sessions') await report({ userId, exceptSessionId: sessionId });
            else {
              const token = (ctx.body as { token?: unknown } | undefined)?.token;
              const target = typeof token === 'string' ? await ctx.context.internalAdapter.findSession(token).catch(() => null) : null;
              if (target && target.session.userId === userId) await report({ sessionId: target.session.id, userId });
            }
          }),
        },
        {
          matcher: (ctx) => !sessionsInDatabase && ctx.path === '/admin/revoke-user-session',
          handler: createAuthMiddleware(async (ctx) => {
            const token = (ctx.body as { sessionToken?: unknown } | undefined)?.sessionToken;
            if (typeof token !== 'string') return;
            const target = await ctx.context.internalAdapter.findSession(token).catch(() => null);
            if (pendingRevocations.size >= MAX_PENDING_REVOCATIONS) pendingRevocations.clear();
            pendingRevocations.set(token, target ? { sessionId: target.session.id, userId: target.session.userId } : null);
          }),
        },
      ],
      after: [
        {
          matcher: (ctx) => !sessionsInDatabase && ADMIN_ENDING_PATHS.has(ctx.path ?? ''),
          handler: createAuthMiddleware(async (ctx) => {
            const body = ctx.body as { sessionToken?: unknown; userId?: unknown } | undefined;
            const token = typeof body?.sessionToken === 'string' ? body.sessionToken : undefined;
            const target = token === undefined ? undefined : pendingRevocations.get(token);
            if (token !== undefined) pendingRevocations.delete(token);
            if (isAPIError(ctx.context.returned)) return;
            if (ctx.path === '/admin/revoke-user-sessions') {
              if (typeof body?.userId === 'string') await report({ userId: body.userId });
            } else if (target) await report(target);
          }),
        },
      ],
    },
  } satisfies BetterAuthPlugin & LinkedPlugin;
}

/**
 * Attaches a listener to the livetail plugin among `plugins` (the app's `auth.options.plugins`).
 * Returns the detach function, or undefined when the plugin is not there.
 */
export function attachToPlugin(plugins: readonly unknown[] | undefined, listener: SessionEndListener): (() => void) | undefined {
  const plugin = plugins?.find((p): p is LinkedPlugin => typeof p === 'object' && p !== null && (p as LinkedPlugin).$livetail !== undefined);
  if (!plugin) return undefined;
  const link = plugin.$livetail!;
  link.listeners.add(listener);
  return () => link.listeners.delete(listener);
}

async function postEnd(sidecar: NonNullable<LivetailPluginOptions['sidecar']>, end: SessionEnd): Promise<void> {
  const res = await fetch(new URL('/api/sessions/end', sidecar.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${sidecar.token}` },
    body: JSON.stringify(end),
    signal: AbortSignal.timeout(sidecar.timeoutMs ?? 2000),
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`POST /api/sessions/end answered ${res.status}`);
}
