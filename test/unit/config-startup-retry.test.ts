import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeError, retryUntil } from '../../src/util/retry.js';

describe('retryUntil (STARTUP_TIMEOUT_MS)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('backs off 250 ms doubling up to 5 s, reports each failure, and gives up at the deadline with the last error', async () => {
    vi.useFakeTimers();
    const failures: Array<{ attempt: number; next: number | undefined }> = [];
    let calls = 0;
    const result = retryUntil(
      async () => {
        calls++;
        throw new Error(`refused ${calls}`);
      },
      20_000,
      (_error, attempt, next) => failures.push({ attempt, next }),
    );
    const settled = result.catch((error: Error) => error);
    await vi.runAllTimersAsync();
    const error = await settled;
    expect((error as Error).message).toBe(`refused ${calls}`);
    // 0, .25, .75, 1.75, 3.75, 7.75, 12.75, 17.75 s, then the 2.25 s left, then the deadline.
    expect(failures.map((f) => f.next)).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 2250, undefined]);
    expect(failures.map((f) => f.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('returns as soon as an attempt succeeds', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const result = retryUntil(
      async () => {
        if (++calls < 3) throw new Error('not yet');
        return 'connected';
      },
      10_000,
      () => {},
    );
    await vi.runAllTimersAsync();
    expect(await result).toBe('connected');
    expect(calls).toBe(3);
  });

  it('tries once with a timeout of 0', async () => {
    const onFailure = vi.fn();
    await expect(retryUntil(async () => Promise.reject(new Error('down')), 0, onFailure)).rejects.toThrow('down');
    expect(onFailure).toHaveBeenCalledWith(expect.any(Error), 1, undefined);
  });
});

describe('describeError', () => {
  it('spells out an AggregateError with an empty message (a refused connection to localhost)', () => {
    const refused = (address: string) => Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' });
    const error = new AggregateError([refused('::1:5432'), refused('127.0.0.1:5432')], '');
    expect(describeError(error)).toBe('connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432');
  });

  it('falls back to the code, and keeps the text on one line', () => {
    expect(describeError(Object.assign(new Error(''), { code: 'ETIMEDOUT' }))).toBe('ETIMEDOUT');
    expect(describeError(new Error('relation "x"\n  does not exist'))).toBe('relation "x" does not exist');
    expect(describeError('plain')).toBe('plain');
  });
});
