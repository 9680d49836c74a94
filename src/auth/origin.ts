/**
 * The Origin check of the WebSocket upgrade. Browsers send cookies with cross-site WebSocket requests,
 * so a page on another site could open a socket as the signed-in user (cross-site WebSocket hijacking);
 * better-auth's own origin check skips GET requests, and an upgrade is a GET, so livetail checks here.
 * A request without Origin comes from a non-browser client and is allowed.
 */
export function createOriginCheck(trustedOrigins: string[]): (origin: string | undefined) => boolean {
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const entry of trustedOrigins) {
    if (entry.includes('*')) {
      const escaped = entry.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*');
      patterns.push(new RegExp(`^${escaped}$`, 'i'));
    } else {
      exact.add(new URL(entry).origin);
    }
  }
  return (origin) => {
    if (origin === undefined) return true;
    if (exact.has(origin)) return true;
    return patterns.some((p) => p.test(origin));
  };
}
