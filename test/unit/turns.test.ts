import { describe, expect, it } from 'vitest';
import { Turns } from '../../src/util/turns.js';

describe('Turns', () => {
  it('lets waiters queued at once through in order, each in a later turn of the event loop', async () => {
    // A counter of event loop turns: an immediate that queues itself again runs once per turn.
    let turn = 0;
    let counting = true;
    const tick = () => {
      turn++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const turns = new Turns();
    const released: Array<{ waiter: number; turn: number }> = [];
    await Promise.all(
      [0, 1, 2, 3].map(async (waiter) => {
        await turns.next();
        released.push({ waiter, turn });
      }),
    );
    counting = false;
    expect(released.map((r) => r.waiter)).toEqual([0, 1, 2, 3]);
    for (let i = 1; i < released.length; i++) expect(released[i]!.turn).toBeGreaterThan(released[i - 1]!.turn);
  });

  it('lets a waiter through in the next turn when nobody waits before it', async () => {
    const turns = new Turns();
    let immediateRan = false;
    setImmediate(() => (immediateRan = true));
    await turns.next();
    expect(immediateRan).toBe(true);
    await turns.next(); // and again, after the queue emptied
  });
});
