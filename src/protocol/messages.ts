import { z } from 'zod';
import { CHANNELS, PROTOCOL_ERROR_CODES } from './constants.js';
import { jobEventDataSchema, logEntrySchema } from './log-entry.js';

const channel = z.enum(CHANNELS);
const timestamp = z.iso.datetime();

// ---------------------------------------------------------------- client → server

// Extra keys are ignored (not rejected) so clients of the original server that add their own fields keep working.
export const pingMessage = z.object({ type: z.literal('ping') });
export const clearLogsMessage = z.object({ type: z.literal('clear-logs') });
export const subscribeMessage = z.object({ type: z.literal('subscribe'), channel });
export const unsubscribeMessage = z.object({ type: z.literal('unsubscribe'), channel });

/** Every message a client may send. */
export const clientMessageSchema = z.discriminatedUnion('type', [
  pingMessage,
  clearLogsMessage,
  subscribeMessage,
  unsubscribeMessage,
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;

// ---------------------------------------------------------------- server → client

export const initialLogsMessage = z.strictObject({
  type: z.literal('initial-logs'),
  logs: z.array(logEntrySchema),
  /** Present only when the client asked to resume with `?since=`: true when that id is no longer stored. */
  truncated: z.boolean().optional(),
  timestamp,
});
export const initialJobsMessage = z.strictObject({
  type: z.literal('initial-jobs'),
  /** The latest event of each of the user's recent jobs, most recent first. */
  jobs: z.array(jobEventDataSchema),
  timestamp,
});
export const logMessage = z.strictObject({ type: z.literal('log'), log: logEntrySchema, timestamp });
export const jobEventMessage = z.strictObject({
  type: z.literal('job-event'),
  channel: z.literal('jobs'),
  data: jobEventDataSchema,
  timestamp,
});
export const logsClearedMessage = z.strictObject({ type: z.literal('logs-cleared'), timestamp });
export const pongMessage = z.strictObject({ type: z.literal('pong') });
export const subscribedMessage = z.strictObject({
  type: z.literal('subscribed'),
  channel,
  channels: z.array(channel),
});
export const unsubscribedMessage = z.strictObject({
  type: z.literal('unsubscribed'),
  channel,
  channels: z.array(channel),
});
/**
 * A client message the server could not act on. `error` is for people (the seed's field); `code` is the
 * catalog's, for programs: match on it, never on the text.
 */
export const errorMessage = z.strictObject({ type: z.literal('error'), error: z.string(), code: z.enum(PROTOCOL_ERROR_CODES) });

/** Every message the server sends on /ws. */
export const serverMessageSchema = z.discriminatedUnion('type', [
  initialLogsMessage,
  initialJobsMessage,
  logMessage,
  jobEventMessage,
  logsClearedMessage,
  pongMessage,
  subscribedMessage,
  unsubscribedMessage,
  errorMessage,
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type ServerMessageOf<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;
