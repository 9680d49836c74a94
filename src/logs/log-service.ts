import type { z } from 'zod';
import { HTTP_ERRORS, type Issue, ValidationError, issuesOf } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { LogLevel } from '../protocol/constants.js';
import { type LogEntry, type LogEntryInput, type ParsedBounds, logEntryInputSchema } from '../protocol/log-entry.js';
import type { IdempotencyClaim, LogPage, LogQuery, LogStore, WriteOp } from '../store/log-store.js';
import type { StreamWriter } from '../stream/stream-writer.js';
import type { OwnerOf } from '../util/owner-of.js';
import { refuseIllFormedStrings } from '../util/well-formed.js';
import { passesLevel } from './levels.js';
import { sanitizeEntry } from '../sanitizer/sanitizer.js';
import { createUuidV7 } from './uuid-v7.js';

export interface LogServiceOptions {
  realtimeLogLevel: LogLevel;
  parsedBounds: ParsedBounds;
}

/** The validated shape of one entry, with its owner resolved. */
export type OwnedEntry = z.output<ReturnType<typeof logEntryInputSchema>> & { userId: string };

/**
 * The logger (the original's RealTimeLogger): drops entries under REALTIME_LOG_LEVEL, sanitizes,
 * stamps id and timestamp, and hands them to the stream writer, which stores and then broadcasts.
 */
export class LogService {
  readonly entrySchema: ReturnType<typeof logEntryInputSchema>;
  private readonly newId = createUuidV7();

  constructor(
    private readonly writer: StreamWriter,
    private readonly store: LogStore,
    private readonly metrics: Metrics,
    private readonly options: LogServiceOptions,
  ) {
    this.entrySchema = logEntryInputSchema(options.parsedBounds);
  }

  /**
   * The in-process producer API: validates, then stores and broadcasts entries owned by `userId`.
   * Resolves with the stored entries (those under the level threshold are dropped and not returned).
   * Throws ValidationError VALIDATION_FAILED, storing nothing, if any entry is invalid, and INVALID_BODY
   * for a string that is not well-formed UTF-16 (as the HTTP body pipeline does); StoreWriteError when
   * the store did not take them (see StreamWriter).
   */
  async log(userId: string, entry: LogEntryInput | LogEntryInput[]): Promise<LogEntry[]> {
    const entries = Array.isArray(entry) ? entry : [entry];
    refuseIllFormedStrings(userId, ['userId']);
    refuseIllFormedStrings(entries);
    const owned = this.validate(entries, (claimed) =>
      claimed === undefined || claimed === userId ? userId : { invalid: HTTP_ERRORS.VALIDATION_FAILED.texts.ownerDiffers },
    );
    return this.append(owned);
  }

  /**
   * Validates a batch and names each entry's owner: `ownerOf` gets the userId the entry names (if any)
   * and returns the owner, or why the entry cannot be taken. All or nothing: any invalid entry throws
   * ValidationError VALIDATION_FAILED listing every issue by entry index, and the batch is counted as
   * dropped. `ownerOf` may throw instead (the HTTP route's ownerFor does, for a caller's userId it refuses).
   */
  validate(entries: unknown[], ownerOf: OwnerOf): OwnedEntry[] {
    const owned: OwnedEntry[] = [];
    const issues: Issue[] = [];
    entries.forEach((entry, index) => {
      const parsed = this.entrySchema.safeParse(entry);
      if (!parsed.success) {
        issues.push(...issuesOf(parsed.error, [index]));
        return;
      }
      const owner = ownerOf(parsed.data.userId);
      if (typeof owner === 'string') owned.push({ ...parsed.data, userId: owner });
      else issues.push({ path: [index, 'userId'], message: owner.invalid, code: 'custom' });
    });
    if (issues.length > 0) {
      this.metrics.logsDropped.labels('validation').inc(entries.length);
      throw new ValidationError('VALIDATION_FAILED', HTTP_ERRORS.VALIDATION_FAILED.texts.logEntries, issues);
    }
    return owned;
  }

  /**
   * Stores and broadcasts entries that are already validated and owned (the HTTP route's path). With
   * `idempotency`, the request's key is recorded with the stored entries in the same transaction (even
   * when the level drops them all); a key already recorded rejects with IdempotencyKeyTakenError.
   */
  async append(entries: OwnedEntry[], idempotency?: IdempotencyClaim): Promise<LogEntry[]> {
    const kept = entries.filter((e) => passesLevel(e.level, this.options.realtimeLogLevel));
    if (kept.length < entries.length) this.metrics.logsDropped.labels('level').inc(entries.length - kept.length);
    if (kept.length === 0 && !idempotency) return [];
    const timestamp = new Date().toISOString();
    const logs: LogEntry[] = kept.map((e) => {
      const clean = sanitizeEntry(e);
      return {
        id: this.newId(),
        timestamp,
        userId: e.userId,
        emailAccountId: clean.emailAccountId,
        level: clean.level,
        command: clean.command,
        data: clean.data as LogEntry['data'],
      };
    });
    const ops: WriteOp[] = logs.map((log) => ({ kind: 'log', log }));
    if (idempotency) ops.push({ kind: 'idempotency', claim: idempotency, result: JSON.stringify(logs) });
    await this.writer.submit(ops);
    this.metrics.logsIngested.inc(logs.length);
    return logs;
  }

  /** Deletes the user's logs; every socket of the user gets `logs-cleared`. */
  async clear(userId: string): Promise<void> {
    await this.writer.submit([{ kind: 'clear', userId, timestamp: new Date().toISOString() }]);
  }

  /** A page of the user's stored logs (GET /api/logs reads them in slices); throws StoreUnavailableError when the store does not answer. */
  read(userId: string, query: LogQuery): Promise<LogPage> {
    return this.store.readLogs(userId, query);
  }
}
