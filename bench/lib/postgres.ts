import pg from 'pg';

/** The PostgreSQL server the project's tests use: 127.0.0.1:5432, database `test`, trust auth. */
const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Creates a database of the run's own on the server at `adminUrl` (BENCH_POSTGRES_URL, else the test
 * server), so W5 on PostgreSQL starts as fresh as the SQLite file does; `drop` removes it afterwards.
 * When no server answers within 2 s the result says why, and W5 runs on SQLite alone.
 */
export async function freshPostgresDatabase(
  adminUrl = process.env.BENCH_POSTGRES_URL ?? DEFAULT_ADMIN_URL,
): Promise<{ url: string; backendPids(): Promise<number[]>; drop(): Promise<void> } | { unavailable: string }> {
  const name = `livetail_bench_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
    await dropLeftovers(admin);
    await admin.query(`CREATE DATABASE ${name}`);
  } catch (error) {
    await admin.end().catch(() => {});
    return { unavailable: `${adminUrl.replace(/:[^:@/]*@/, ':***@')} did not answer (${(error as Error).message})` };
  }
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    /** The server processes serving this database now (their CPU is the store's, not the machine's noise). */
    async backendPids() {
      const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
      await client.connect();
      try {
        const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [name]);
        return rows.map((r) => r.pid);
      } finally {
        await client.end();
      }
    },
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Drops databases of earlier runs whose process is gone (a run stopped by its hard limit cannot drop its own). */
async function dropLeftovers(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'livetail\\_bench\\_%'");
  for (const { datname } of rows) {
    const pid = Number(/^livetail_bench_(\d+)_\d+$/.exec(datname)?.[1]);
    if (!Number.isInteger(pid) || processAlive(pid)) continue;
    await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => {});
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
