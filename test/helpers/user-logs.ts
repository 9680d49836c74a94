import { expect } from 'vitest';
import type { LogEntry } from '../../src/protocol/index.js';
import { api, entry, type TestUser } from './http.js';
import type { TestServer } from './server.js';
import { TestSocket } from './ws-client.js';

/** Posts one log per command as the user (session cookie); the stored logs of the 201. */
export async function postLogs(server: TestServer, user: TestUser, commands: string[]): Promise<LogEntry[]> {
  const res = await api(server.url, 'POST', '/api/logs', { cookie: user.cookie }, commands.map((command) => entry({ command })));
  expect(res.status).toBe(201);
  return res.body.logs;
}

/** The user's newest INITIAL_LOGS logs as the store holds them (GET /api/logs). */
export async function storedLogs(server: TestServer, user: TestUser): Promise<LogEntry[]> {
  return (await api(server.url, 'GET', '/api/logs', { cookie: user.cookie })).body.logs;
}

/** Opens a socket of the user (with `query`), takes its initial-logs, and closes it. */
export async function initialLogsOf(server: TestServer, user: TestUser, query?: string) {
  const socket = await TestSocket.open(server.wsUrl, { cookie: user.cookie, query });
  const initial = await socket.next('initial-logs');
  await socket.close();
  return initial;
}
