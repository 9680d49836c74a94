import { randomUUID } from 'node:crypto';
import { FakeSessionResolver } from '../helpers/fake-session-resolver.js';
import { sessionResolverContract } from './session-resolver.contract.js';

// The fake that unit tests of Sessions and the gateway stand on keeps the contract the real resolvers keep.
sessionResolverContract('FakeSessionResolver (test/helpers, for unit tests)', async () => {
  const resolver = new FakeSessionResolver({ batchRecheck: true });
  const expiries = new Map<string, number>();
  return {
    resolver,
    signUp: async () => {
      const id = randomUUID();
      const session = resolver.add(`sid=${id}`, { userId: `user-${id}`, sessionId: `session-${id}` });
      expiries.set(session.sessionId, session.expiresAt);
      return { cookie: `sid=${id}`, userId: session.userId };
    },
    signOut: async (cookie) => resolver.remove(cookie),
    storedExpiry: async (sessionId) => expiries.get(sessionId)!,
    breakSource: async () => {
      resolver.down = true;
    },
    close: async () => {},
  };
});
