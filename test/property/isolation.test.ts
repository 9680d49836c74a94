import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNELS, type Channel, type LogLevel } from '../../src/protocol/constants.js';
import { signUp, type TestUser } from '../helpers/http.js';
import { logInput } from '../helpers/log-input.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

const USERS = 3;
const INITIAL_LOGS = 4;
const MAX_JOBS_PER_USER = 3;
const RUNS = 40;

type Action =
  | { kind: 'open'; user: number; channels: Channel[] | undefined }
  | { kind: 'close'; socket: number }
  | { kind: 'subscribe' | 'unsubscribe'; socket: number; channel: Channel }
  | { kind: 'log'; user: number; level: LogLevel }
  | { kind: 'job'; user: number; jobId: string; status: string }
  | { kind: 'clear'; user: number };

const user = fc.integer({ min: 0, max: USERS - 1 });
const socketRef = fc.nat(); // an index into the sockets opened so far (modulo their number)
const channel = fc.constantFrom(...CHANNELS);
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('open' as const), user, channels: fc.option(fc.uniqueArray(channel, { minLength: 1, maxLength: 3 }), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), socket: socketRef }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('subscribe' as const, 'unsubscribe' as const), socket: socketRef, channel }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('log' as const), user, level: fc.constantFrom<LogLevel>('debug', 'info', 'warn', 'error') }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('job' as const), user, jobId: fc.constantFrom('j1', 'j2', 'j3', 'j4', 'j5'), status: fc.constantFrom('active', 'progress', 'completed', 'failed') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const), user }) },
);

/** One thing a socket must receive from its user's stream, in order. */
type Delivery = { type: 'log'; id: string } | { type: 'job-event'; jobId: string; status: string } | { type: 'logs-cleared' };

interface ModelSocket {
  user: number;
  socket: TestSocket;
  channels: Set<Channel>;
  open: boolean;
  expected: Delivery[];
}

const wants = (channels: Set<Channel>, kind: 'logs' | 'jobs') => channels.has('all') || channels.has(kind);

/** What a socket received from the stream (its replies and backlog left out), in the shape of Delivery. */
function received(socket: TestSocket): Delivery[] {
  return socket.messages.flatMap((m): Delivery[] => {
    if (m.type === 'log') return [{ type: 'log', id: m.log.id }];
    if (m.type === 'job-event') return [{ type: 'job-event', jobId: m.data.jobId, status: m.data.status }];
    if (m.type === 'logs-cleared') return [{ type: 'logs-cleared' }];
    return [];
  });
}

describe('isolation as a property: every socket gets exactly what its user and channels entitle it to, in order', () => {
  let server: TestServer;
  let users: TestUser[];

  beforeAll(async () => {
    server = await startTestServer({ INITIAL_LOGS: String(INITIAL_LOGS), MAX_JOBS_PER_USER: String(MAX_JOBS_PER_USER) });
    users = await Promise.all(Array.from({ length: USERS }, () => signUp(server.url)));
  });
  afterAll(() => server.close());

  it(`holds for ${RUNS} random sequences of opens, closes, subscribes, publishes and clears`, async () => {
    const app = server.node.app;
    let actionsRun = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 8, maxLength: 40, size: 'medium' }), async (actions) => {
        // The model starts from the store: no logs (cleared), and each user's latest jobs as stored.
        for (const u of users) await app.logs.clear(u.userId);
        const logs: string[][] = users.map(() => []);
        const jobs: Array<Array<{ jobId: string; status: string }>> = await Promise.all(
          users.map(async (u) => (await app.jobs.latest(u.userId)).map((j) => ({ jobId: j.jobId, status: j.status }))),
        );
        const sockets: ModelSocket[] = [];
        const pick = (ref: number) => (sockets.length === 0 ? undefined : sockets[ref % sockets.length]);

        /** Checks one socket: all it was sent has arrived (a ping's pong comes after it), and it is exactly the model's. */
        const verify = async (s: ModelSocket) => {
          await s.socket.roundTrip();
          expect(received(s.socket)).toEqual(s.expected);
        };

        try {
          for (const a of actions) {
            actionsRun++;
            switch (a.kind) {
              case 'open': {
                const query = a.channels ? `channels=${a.channels.join(',')}` : undefined;
                const socket = await TestSocket.open(server.wsUrl, { cookie: users[a.user]!.cookie, query });
                const channels = new Set<Channel>(a.channels ?? ['all']);
                const initial = await socket.next('initial-logs');
                expect(initial.logs.map((l) => l.id)).toEqual(logs[a.user]!.slice(-INITIAL_LOGS));
                expect(initial.logs.every((l) => l.userId === users[a.user]!.userId)).toBe(true);
                if (wants(channels, 'jobs')) {
                  const initialJobs = await socket.next('initial-jobs');
                  expect(initialJobs.jobs.map((j) => ({ jobId: j.jobId, status: j.status }))).toEqual(jobs[a.user]);
                  expect(initialJobs.jobs.every((j) => j.userId === users[a.user]!.userId)).toBe(true);
                }
                sockets.push({ user: a.user, socket, channels, open: true, expected: [] });
                break;
              }
              case 'close': {
                const s = pick(a.socket);
                if (!s?.open) break;
                await verify(s);
                s.open = false;
                await s.socket.close();
                break;
              }
              case 'subscribe':
              case 'unsubscribe': {
                const s = pick(a.socket);
                if (!s?.open) break;
                s.socket.send({ type: a.kind, channel: a.channel });
                const reply = await s.socket.next(a.kind === 'subscribe' ? 'subscribed' : 'unsubscribed');
                if (a.kind === 'subscribe') s.channels.add(a.channel);
                else s.channels.delete(a.channel);
                expect(new Set(reply.channels)).toEqual(s.channels);
                break;
              }
              case 'log': {
                const stored = await app.logs.log(users[a.user]!.userId, logInput({ level: a.level, command: `L${actionsRun}` }));
                // Under REALTIME_LOG_LEVEL (info) a log is neither stored nor sent.
                expect(stored).toHaveLength(a.level === 'debug' ? 0 : 1);
                for (const log of stored) {
                  logs[a.user]!.push(log.id);
                  for (const s of sockets) if (s.open && s.user === a.user && wants(s.channels, 'logs')) s.expected.push({ type: 'log', id: log.id });
                }
                break;
              }
              case 'job': {
                await app.jobs.publish({ userId: users[a.user]!.userId, jobId: a.jobId, status: a.status });
                const list = jobs[a.user]!.filter((j) => j.jobId !== a.jobId);
                jobs[a.user] = [{ jobId: a.jobId, status: a.status }, ...list].slice(0, MAX_JOBS_PER_USER);
                for (const s of sockets) {
                  if (s.open && s.user === a.user && wants(s.channels, 'jobs')) s.expected.push({ type: 'job-event', jobId: a.jobId, status: a.status });
                }
                break;
              }
              case 'clear': {
                await app.logs.clear(users[a.user]!.userId);
                logs[a.user] = [];
                // Every socket of the user is told, whatever it follows.
                for (const s of sockets) if (s.open && s.user === a.user) s.expected.push({ type: 'logs-cleared' });
                break;
              }
            }
          }
          for (const s of sockets) if (s.open) await verify(s);
        } finally {
          await Promise.all(sockets.filter((s) => s.open).map((s) => s.socket.close()));
        }
      }),
      // No shrinking: each replay costs real sockets; the first counterexample is reported as found.
      { numRuns: RUNS, endOnFailure: true },
    );
    console.info(`isolation: ${RUNS} runs, ${actionsRun} actions`);
  });
});
