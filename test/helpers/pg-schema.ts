import pg from 'pg';

/** A PostgreSQL database's public schema, as lines that can be compared before and after a step. */
export interface SchemaSnapshot {
  tables: string[];
  /** `table.column type null|not null default` per column, in order. */
  columns: string[];
  /** `table: index definition`. */
  indexes: string[];
  /** `table: constraint definition` (keys, foreign keys, checks, NOT NULL constraints of PostgreSQL 18). */
  constraints: string[];
}

/** Reads the schema of the database at `url` (public schema only). */
export async function schemaOf(url: string): Promise<SchemaSnapshot> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>(
      `select table_name as name from information_schema.tables where table_schema = 'public' order by 1`,
    );
    const columns = await client.query<{ line: string }>(
      `select table_name || '.' || column_name || ' ' || data_type || ' ' || (case is_nullable when 'YES' then 'null' else 'not null' end)
              || coalesce(' default ' || column_default, '') as line
         from information_schema.columns where table_schema = 'public' order by table_name, ordinal_position`,
    );
    const indexes = await client.query<{ line: string }>(
      `select tablename || ': ' || indexdef as line from pg_indexes where schemaname = 'public' order by 1`,
    );
    const constraints = await client.query<{ line: string }>(
      `select rel.relname || ': ' || con.conname || ' ' || pg_get_constraintdef(con.oid) as line
         from pg_constraint con join pg_class rel on rel.oid = con.conrelid join pg_namespace ns on ns.oid = rel.relnamespace
        where ns.nspname = 'public' order by 1`,
    );
    return {
      tables: tables.rows.map((r) => r.name),
      columns: columns.rows.map((r) => r.line),
      indexes: indexes.rows.map((r) => r.line),
      constraints: constraints.rows.map((r) => r.line),
    };
  } finally {
    await client.end();
  }
}

/** The snapshot without livetail's own tables (`livetail_*`): what must never change when livetail starts. */
export function withoutLivetailTables(schema: SchemaSnapshot): SchemaSnapshot {
  const others = (line: string) => !line.startsWith('livetail_');
  return {
    tables: schema.tables.filter(others),
    columns: schema.columns.filter(others),
    indexes: schema.indexes.filter(others),
    constraints: schema.constraints.filter(others),
  };
}
