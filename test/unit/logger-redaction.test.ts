import { describe, expect, it } from 'vitest';
import { REDACTED, createLogger, redactSecrets } from '../../src/logger.js';

/** The server's logger writing into an array: one parsed JSON line per entry. */
function capture() {
  const lines: Array<Record<string, any>> = [];
  const logger = createLogger({ level: 'info', format: 'json', nodeId: 'n1' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe("the server log's redaction", () => {
  it('censors secret-named values at the top level of a line', () => {
    const { logger, lines } = capture();
    logger.info({ cookie: 'c', authorization: 'Bearer t', token: 't', password: 'p', secret: 's', log: {}, logs: [1], entry: { a: 1 }, body: 'b', userId: 'u1' }, 'm');
    expect(lines[0]).toMatchObject({
      cookie: REDACTED, authorization: REDACTED, token: REDACTED, password: REDACTED, secret: REDACTED,
      log: REDACTED, logs: REDACTED, entry: REDACTED, body: REDACTED, userId: 'u1', node: 'n1', msg: 'm',
    });
  });

  it("censors them in an object at the top level, and cookie and authorization in its headers", () => {
    const { logger, lines } = capture();
    logger.info({ req: { id: 'r1', cookie: 'c', headers: { cookie: 'c', authorization: 'a', accept: '*/*' } }, res: { statusCode: 201, body: 'b', logs: [] } }, 'm');
    expect(lines[0].req).toEqual({ id: 'r1', cookie: REDACTED, headers: { cookie: REDACTED, authorization: REDACTED, accept: '*/*' } });
    expect(lines[0].res).toEqual({ statusCode: 201, body: REDACTED, logs: REDACTED });
  });

  it('keeps an Error an Error (message and stack) while censoring what it carries', () => {
    const { logger, lines } = capture();
    const err = Object.assign(new Error('boom'), { body: 'the response body', status: 500 });
    logger.error({ err }, 'failed');
    expect(lines[0].err).toMatchObject({ type: 'Error', message: 'boom', body: REDACTED, status: 500, stack: expect.stringContaining('boom') });
    expect(err.body).toBe('the response body');
  });

  it("censors what is logged through a child logger", () => {
    const { logger, lines } = capture();
    logger.child({ req: { id: 'r2', method: 'POST', path: '/api/logs' } }).info({ body: 'b', res: { authorization: 'a' } }, 'm');
    expect(lines[0]).toMatchObject({ req: { id: 'r2', method: 'POST', path: '/api/logs' }, body: REDACTED, res: { authorization: REDACTED } });
  });

  it('never changes the object logged, and hands back a line with nothing to censor as it is', () => {
    const line = { event: 'ws-close', userId: 'u1', code: 1000, reason: '', durationMs: 5, req: { id: 'r', method: 'GET' } };
    expect(redactSecrets(line)).toBe(line);
    const secret = { req: { headers: { cookie: 'c' } } };
    const copy = redactSecrets(secret) as typeof secret;
    expect(copy).not.toBe(secret);
    expect(copy.req.headers.cookie).toBe(REDACTED);
    expect(secret.req.headers.cookie).toBe('c');
  });
});
