import { BetterAuthSessionResolver } from '../../src/sessions/better-auth-session-resolver.js';
import { appSignUp, createAppAuth } from '../helpers/app-auth.js';
import { sessionResolverContract } from './session-resolver.contract.js';

sessionResolverContract('BetterAuthSessionResolver (an app’s better-auth: cookie prefix, own table and column names, a required field)', async () => {
  const { auth, database } = await createAppAuth({ plugin: false });
  let open = true;
  return {
    resolver: new BetterAuthSessionResolver(auth),
    signUp: () => appSignUp(auth),
    signOut: async (cookie) => {
      await auth.api.signOut({ headers: new Headers({ cookie }) });
    },
    storedExpiry: async (sessionId) => {
      const row = database.prepare('select expires_at from app_sessions where id = ?').get(sessionId) as { expires_at: number | string };
      return new Date(row.expires_at).getTime();
    },
    breakSource: async () => {
      database.close();
      open = false;
    },
    close: async () => {
      if (open) database.close();
    },
  };
});
