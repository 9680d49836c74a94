import path from 'node:path';
import type { SocketSpec, TargetKind } from '../load/messages.js';
import type { ClientPool, OpenResult } from './client-pool.js';
import type { Roles } from './cpu-meter.js';
import { Poster } from './poster.js';
import { BENCH_INGEST_TOKEN, Target, type TargetOptions, livetailDatabaseUrl } from './targets.js';
import { type BenchUser, type UserTemplate, copyTemplate } from './users.js';

/** What every stage shares: where to work, the users, the client workers. */
export interface RunContext {
  workDir: string;
  template: UserTemplate;
  pool: ClientPool;
  cpuProfDir?: string;
}

/** One server of a stage: livetail on SQLite and livetail on PostgreSQL are two entries of kind livetail. */
export interface StageTarget {
  name: string;
  kind: TargetKind;
  target: Target;
  poster: Poster;
  /** livetail's DATABASE_URL (undefined for the baselines, which store nothing). */
  databaseUrl?: string;
  /** The database server processes working for this target now (PostgreSQL backends), if any. */
  databasePids?: () => Promise<number[]>;
}

let stageCounter = 0;

/**
 * A set of targets started fresh for one workload (each in its own process, livetail on its own copy of
 * the user template), the users whose sockets they serve, and the socket sets opened to them.
 */
export class Stage {
  /** Socket sets open now, and the client pool holding each. */
  private readonly opened = new Map<string, ClientPool>();

  private constructor(
    readonly ctx: RunContext,
    readonly id: string,
    readonly entries: StageTarget[],
    readonly users: BenchUser[],
  ) {}

  /**
   * Starts the targets in parallel. `specs` names each one; `users` are the stage's users (their ids are
   * what the posted logs are for). livetail on SQLite starts on a copy of the user template, or of
   * `spec.dbFile` (a template with logs stored in it already).
   */
  static async start(
    ctx: RunContext,
    label: string,
    specs: Array<{ name: string; kind: TargetKind; options?: Partial<TargetOptions>; databasePids?: () => Promise<number[]>; dbFile?: string }>,
    users: BenchUser[],
  ): Promise<Stage> {
    const id = `${++stageCounter}-${label}`;
    const started = await Promise.allSettled(
      specs.map(async (spec) => {
        const dir = path.join(ctx.workDir, id, spec.name);
        if (spec.kind === 'livetail' && !spec.options?.databaseUrl) copyTemplate(spec.dbFile ?? ctx.template.dbFile, dir);
        const target = await Target.start(spec.kind, { dir, cpuProfDir: ctx.cpuProfDir, ...spec.options });
        const headers: Record<string, string> = spec.kind === 'livetail' ? { authorization: `Bearer ${BENCH_INGEST_TOKEN}` } : {};
        const databaseUrl = spec.kind === 'livetail' ? livetailDatabaseUrl({ dir, ...spec.options }) : undefined;
        return { name: spec.name, kind: spec.kind, target, poster: new Poster(target.url, headers, 32), databaseUrl, databasePids: spec.databasePids };
      }),
    );
    const entries = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failure = started.find((r) => r.status === 'rejected');
    if (failure) {
      await Promise.all(entries.map((e) => e.target.stop()));
      throw (failure as PromiseRejectedResult).reason;
    }
    return new Stage(ctx, id, entries, users);
  }

  get pool(): ClientPool {
    return this.ctx.pool;
  }

  get userIds(): string[] {
    return this.users.map((u) => u.userId);
  }

  entry(name: string): StageTarget {
    const entry = this.entries.find((e) => e.name === name);
    if (!entry) throw new Error(`no target ${name} in stage ${this.id}`);
    return entry;
  }

  /** The name of a socket set in the client workers. */
  setName(name: string, suffix = ''): string {
    return `${this.id}/${name}${suffix}`;
  }

  /** Sockets for users[from..to), `perUser` each (the same user's sockets spread over the workers). */
  sockets(perUser: number, from = 0, to = this.users.length): SocketSpec[] {
    const specs: SocketSpec[] = [];
    for (let k = 0; k < perUser; k++) for (let i = from; i < to; i++) specs.push(this.users[i]!);
    return specs;
  }

  /** Opens sockets to a target (through `pool`, the run's client workers by default) and waits until they can receive. */
  async open(name: string, sockets: SocketSpec[], concurrency: number, suffix = '', pool = this.pool): Promise<OpenResult> {
    const { kind, target } = this.entry(name);
    const set = this.setName(name, suffix);
    this.opened.set(set, pool);
    const result = await pool.open(set, kind, target.url, target.origin, sockets, concurrency);
    if (result.failed > 0) throw new Error(`${name}: ${result.failed} of ${sockets.length} sockets failed to open (${result.firstError})`);
    return result;
  }

  /** Closes a set of sockets; `terminate` cuts them without a close handshake (faster, for teardown). */
  async closeSockets(name: string, suffix = '', terminate = false): Promise<void> {
    const set = this.setName(name, suffix);
    const pool = this.opened.get(set);
    if (!pool) return;
    this.opened.delete(set);
    await pool.close(set, { terminate });
  }

  /** The processes of a window that measures `name`. */
  async roles(name: string): Promise<Roles> {
    const entry = this.entry(name);
    return {
      server: entry.target.pid,
      clients: this.pool.pids,
      idleServers: this.entries.filter((e) => e.name !== name).map((e) => e.target.pid),
      database: (await entry.databasePids?.()) ?? [],
    };
  }

  async stop(): Promise<void> {
    // Cut, not closed: a close handshake per socket would only lengthen the run.
    for (const [set, pool] of this.opened) await pool.close(set, { terminate: true }).catch(() => {});
    this.opened.clear();
    for (const e of this.entries) e.poster.close();
    await Promise.all(this.entries.map((e) => e.target.stop()));
  }
}
