import { TEST_ORIGIN } from '../helpers/server.js';

export { freePort } from '../helpers/services.js';

/**
 * Server environment for browser and CLI tests: BASE_URL is the server's own URL (http://127.0.0.1:port),
 * as for a real deployment, so better-auth accepts a sign-in from the page (or the CLI's default Origin)
 * and the gateway its socket; the helpers' fixed test origin stays trusted for the tests' own API calls.
 */
export function consoleServerEnv(port: number, extra: Record<string, string> = {}): Record<string, string> {
  const origin = `http://127.0.0.1:${port}`;
  // REALTIME_LOG_LEVEL=debug: the level filter has all four levels to work with.
  return { PORT: String(port), BASE_URL: origin, TRUSTED_ORIGINS: `${origin},${TEST_ORIGIN}`, REALTIME_LOG_LEVEL: 'debug', ...extra };
}
