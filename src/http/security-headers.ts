import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

/** helmet's defaults, with a CSP that lets the console open its WebSocket. */
const OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: { 'connect-src': ["'self'", 'ws:', 'wss:'], 'upgrade-insecure-requests': null },
  },
  // Plain-http deployments (the default on localhost) must not be told to upgrade to https.
  strictTransportSecurity: false,
};

/** The security headers middleware of the HTTP app: on every response, errors included. */
export function securityHeaders(): RequestHandler {
  return helmet(OPTIONS);
}

/**
 * The same headers as `Name: value` lines, for the responses the WebSocket gateway writes without
 * Express (upgrade refusals, the 101). Computed by running helmet once against a recording response,
 * so the two can never disagree.
 */
export function securityHeaderLines(): string[] {
  const lines: string[] = [];
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      lines.push(`${name}: ${Array.isArray(value) ? value.join(', ') : String(value)}`);
    },
    removeHeader() {},
  };
  helmet(OPTIONS)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {});
  return lines;
}
