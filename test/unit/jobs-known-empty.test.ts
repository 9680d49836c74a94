import { describe, expect, it } from 'vitest';
import { JobsKnownEmpty } from '../../src/gateway/jobs-known-empty.js';

describe('JobsKnownEmpty', () => {
  it('knows nothing until a read found no jobs', () => {
    const jobs = new JobsKnownEmpty();
    expect(jobs.empty).toBe(false);
    jobs.read(jobs.beginRead(), false);
    expect(jobs.empty).toBe(false);
    jobs.read(jobs.beginRead(), true);
    expect(jobs.empty).toBe(true);
  });

  it('forgets at a job event or a resync, and refuses a read begun before either', () => {
    const jobs = new JobsKnownEmpty();
    jobs.read(jobs.beginRead(), true);
    jobs.changed();
    expect(jobs.empty).toBe(false);
    const ticket = jobs.beginRead();
    jobs.changed(); // a job event heard while the read ran: the read may have missed it
    jobs.read(ticket, true);
    expect(jobs.empty).toBe(false);
    jobs.read(jobs.beginRead(), true);
    expect(jobs.empty).toBe(true);
  });
});
