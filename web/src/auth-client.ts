import { createAuthClient } from 'better-auth/client';

/**
 * better-auth's browser client, talking to this server's /api/auth. Sign-in and sign-up are POSTs that
 * better-auth accepts only from a trusted Origin: the page must be opened at BASE_URL's origin (or one
 * listed in TRUSTED_ORIGINS).
 */
export const authClient = createAuthClient({ baseURL: window.location.origin, basePath: '/api/auth' });

/** The signed-in user as the console needs it. */
export interface ConsoleUser {
  id: string;
  email: string;
  name: string;
}

/** The current session's user, or undefined when signed out (or the server cannot be reached). */
export async function currentUser(): Promise<ConsoleUser | undefined> {
  const { data } = await authClient.getSession();
  return data?.user ? toConsoleUser(data.user) : undefined;
}

export function toConsoleUser(user: { id: string; email: string; name: string }): ConsoleUser {
  return { id: user.id, email: user.email, name: user.name };
}

/** better-auth's error answer as one sentence the form can show. */
export function authErrorMessage(error: { message?: string; status?: number; statusText?: string } | null | undefined): string {
  if (!error) return 'Something went wrong: try again';
  if (error.status === 403) {
    return `${error.message ?? 'Forbidden'}: open the console at the server's BASE_URL, or add ${window.location.origin} to TRUSTED_ORIGINS`;
  }
  if (error.message) return error.message;
  return `${error.status ?? ''} ${error.statusText ?? 'Request failed'}`.trim();
}
