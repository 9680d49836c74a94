import path from 'node:path';
import type { TargetKind } from '../load/messages.js';
import { fillToRetention } from './fill-store.js';
import { freshPostgresDatabase } from './postgres.js';
import type { Profile } from './profiles.js';
import { RAW_SQLITE, RawSqlite } from './raw-sqlite.js';
import type { Results } from './results.js';
import { type Reruns, type Say, describe, fmt, rounds } from './rounds.js';
import { type RunContext, Stage } from './stage.js';
import { LIVETAIL_MAX_LOGS_PER_USER } from './targets.js';
import { type BenchUser, copyTemplate } from './users.js';
import { ingestWindow } from './windows.js';

/**
 * W5: livetail on SQLite (and on PostgreSQL when a server answers) storing batches of 100 with nobody
 * listening, and the reference, raw better-sqlite3 storing the same batches into a copy of the same
 * file, in interleaved rounds. With `fill`, the SQLite file is brought to retention once before the
 * stage and copied for both, so livetail and the reference start from the same bytes.
 */
export async function measureIngest(ctx: RunContext, profile: Profile, users: BenchUser[], rerun: Reruns, say: Say, notes: string[], postgresUrl?: string): Promise<Results['ingest']> {
  const o = profile.ingest!;
  const userIds = users.map((u) => u.userId);
  let dbFile = ctx.template.dbFile;
  if (o.fill) {
    dbFile = copyTemplate(ctx.template.dbFile, path.join(ctx.workDir, 'ingest-template'));
    const rows = await fillToRetention(`file:${dbFile}`, userIds, LIVETAIL_MAX_LOGS_PER_USER);
    say(`W5: SQLite filled to retention (${rows.toLocaleString('en')} logs)`);
  }
  const specs: Array<{ name: string; kind: TargetKind; options?: { databaseUrl: string }; databasePids?: () => Promise<number[]>; dbFile?: string }> = [
    { name: 'sqlite', kind: 'livetail', dbFile },
  ];
  const postgres = o.postgres ? await freshPostgresDatabase(postgresUrl) : undefined;
  if (postgres && 'url' in postgres) specs.push({ name: 'postgres', kind: 'livetail', options: { databaseUrl: postgres.url }, databasePids: postgres.backendPids });
  else if (postgres) notes.push(`W5 on PostgreSQL not run: ${postgres.unavailable}`);
  const raw = o.raw ? await RawSqlite.start(copyTemplate(dbFile, path.join(ctx.workDir, 'raw-sqlite'))) : undefined;
  try {
    const stage = await Stage.start(ctx, 'ingest', specs, users);
    try {
      if (o.fill && postgres && 'url' in postgres) {
        const rows = await fillToRetention(postgres.url, userIds, LIVETAIL_MAX_LOGS_PER_USER);
        say(`W5 postgres: filled to retention (${rows.toLocaleString('en')} logs)`);
      }
      const timing = { ...o, firstWarmupMs: o.warmupMs };
      const measured = [...specs, ...(raw ? [{ name: RAW_SQLITE }] : [])];
      return await rounds(profile, measured, timing, rerun,
        async (name, t) => {
          if (name !== RAW_SQLITE) return ingestWindow(stage, name, { ...t, inFlight: o.inFlight });
          const roles = { clients: stage.pool.pids, idleServers: stage.entries.map((e) => e.target.pid) };
          return raw!.window(roles, { ...t, userIds, maxLogsPerUser: LIVETAIL_MAX_LOGS_PER_USER, batchSize: 100 });
        },
        (name, w) => say(`W5 ${name}: ${fmt(w.logsPerSecond)} logs stored/s, ${w.serverMicrosPerLog.toFixed(1)} µs server CPU each${describe(w)}`),
      );
    } finally {
      await stage.stop();
    }
  } finally {
    await raw?.stop();
    if (postgres && 'drop' in postgres) await postgres.drop();
  }
}
