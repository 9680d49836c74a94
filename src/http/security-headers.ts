import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';
import type { NodeMiddleware } from './access-log.js';

/** helmet's defaults, with a CSP that lets the console open its WebSocket. */
const OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: { 'connect-src': ["'self'", 'ws:', 'wss:'], 'upgrade-insecure-requests': null },
  },
  // Plain-http deployments (the default on localhost) must not be told to upgrade to https.
  strictTransportSecurity: false,
};

/**
 * The headers helmet sets with OPTIONS, as `[name, value]`: computed once by running helmet against a
 * recording response. They do not depend on the request, so every response (and the gateway's own
 * answers) gets these very values without running helmet's chain of a dozen middlewares per request.
 */
const HEADERS: ReadonlyArray<readonly [name: string, value: string]> = (() => {
  const headers: Array<[string, string]> = [];
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers.push([name, Array.isArray(value) ? value.join(', ') : String(value)]);
    },
    removeHeader() {},
  };
  helmet(OPTIONS)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {});
  return headers;
})();

/** The security headers middleware of the HTTP app: on every response, errors included. */
export function securityHeaders(): NodeMiddleware {
  return (_req, res, next) => {
    for (const [name, value] of HEADERS) res.setHeader(name, value);
    res.removeHeader('X-Powered-By'); // as helmet does
    next();
  };
}

/**
 * The same headers as `Name: value` lines, for the responses the WebSocket gateway writes without
 * Express (upgrade refusals, the 101): the two can never disagree.
 */
export function securityHeaderLines(): string[] {
  return HEADERS.map(([name, value]) => `${name}: ${value}`);
}
