import type { LogEntryInput } from '../../src/protocol/log-entry.js';
import { entry } from './http.js';

/** `entry()` typed for the in-process producer API (`app.logs.log`). */
export function logInput(overrides: Record<string, unknown> = {}): LogEntryInput {
  return entry(overrides) as LogEntryInput;
}
