import { type Measured, ONE_PER_ENTRY, PUBLISHER, type PerSocketMemory, type Results, type Series } from './results.js';
import { max, median } from './stats.js';
import { TARGETS as COMPARED } from './targets.js';
import type { WindowResult } from './windows.js';

type Values = Partial<Record<string, number>>;

/** A row: one figure for each target, and the ratios. */
interface Row {
  figure: string;
  values: Values;
  format(n: number): string;
  target?: Target;
  /** Where the cost comes from, shown when the target is missed (from profiles, see bench/results/history.md). */
  why?: string;
}

/** A target of the issue, checked against a row's values. */
interface Target {
  text: string;
  check(values: Values): { met: boolean; detail: string } | undefined;
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '–');
const dec = (digits: number) => (n: number) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN);
const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '–');

/** Median over the windows of each target of one figure. */
function medians<T extends WindowResult>(series: Series<T> | undefined, pick: (w: Measured<T>) => number): Values {
  const values: Values = {};
  for (const [name, windows] of Object.entries(series ?? {})) values[name] = median(windows.map(pick));
  return values;
}

function memoryValues(memory: Record<string, PerSocketMemory> | undefined, pick: 'rss' | 'heap'): Values {
  return Object.fromEntries(Object.entries(memory ?? {}).map(([name, m]) => [name, m[pick]]));
}

/** A target on the ratio livetail / `other`: at least (`atLeast`) or at most `bound`. */
function relative(other: 'bare-ws' | 'socket.io', bound: number, atLeast: boolean): Target {
  return {
    text: `${atLeast ? '≥' : '≤'} ${bound} × ${other}`,
    check(values) {
      const r = ratio(values.livetail, values[other]);
      if (!Number.isFinite(r)) return undefined;
      const met = atLeast ? r >= bound : r <= bound;
      return { met, detail: met ? `${r.toFixed(2)} × ${other}` : `${r.toFixed(2)} × ${other}, missed by ${Math.abs(r / bound - 1) * 100 < 0.5 ? '<1' : (Math.abs(r / bound - 1) * 100).toFixed(0)} %` };
    },
  };
}

function both(a: Target, b: Target): Target {
  return {
    text: `${a.text} and ${b.text}`,
    check(values) {
      const ra = a.check(values);
      const rb = b.check(values);
      if (!ra || !rb) return ra ?? rb;
      return { met: ra.met && rb.met, detail: `${ra.detail}; ${rb.detail}` };
    },
  };
}

function absolute(name: string, bound: number, unit: string): Target {
  return {
    text: `≥ ${bound.toLocaleString('en')} ${unit}`,
    check(values) {
      const v = values[name];
      if (v === undefined || !Number.isFinite(v)) return undefined;
      const met = v >= bound;
      return { met, detail: met ? `${int(v)}` : `${int(v)}, missed by ${((1 - v / bound) * 100).toFixed(0)} %` };
    },
  };
}

function atMost(name: string, bound: number, unit: string): Target {
  return {
    text: `≤ ${bound.toLocaleString('en')} ${unit}`,
    check(values) {
      const v = values[name];
      if (v === undefined || !Number.isFinite(v)) return undefined;
      const met = v <= bound;
      return { met, detail: met ? `${v.toFixed(2)}` : `${v.toFixed(2)}, missed by ${((v / bound - 1) * 100).toFixed(0)} %` };
    },
  };
}

function verdict(row: Row): string {
  const result = row.target?.check(row.values);
  if (!row.target) return '';
  if (!result) return 'not measured';
  return result.met ? `**met** (${result.detail})` : `**missed** (${result.detail})`;
}

function table(rows: Row[], withTargets: boolean): string[] {
  const head = ['figure', ...COMPARED, 'livetail / bare-ws', 'livetail / socket.io', ...(withTargets ? ['target', 'verdict'] : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const row of rows) {
    const cells = [
      row.figure,
      ...COMPARED.map((k) => (row.values[k] === undefined ? '' : row.format(row.values[k]!))),
      x(ratio(row.values.livetail, row.values['bare-ws'])),
      x(ratio(row.values.livetail, row.values['socket.io'])),
      ...(withTargets ? [row.target?.text ?? '', verdict(row)] : []),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

type MemoryPoint = { sockets: number; memory: Record<string, PerSocketMemory> };

/** Every W3 measurement: one per level, then the points grown beyond the last level. */
function memoryPoints(results: Results): MemoryPoint[] {
  return [...results.levels.map((l) => ({ sockets: l.sockets, memory: l.memory })), ...results.memoryGrowth];
}

/** The level whose W3 figure the target is checked on: 10,000 sockets, else the largest measured. */
function memoryPoint(results: Results): MemoryPoint | undefined {
  const points = memoryPoints(results);
  return points.find((p) => p.sockets === 10_000) ?? points.sort((a, b) => b.sockets - a.sockets)[0];
}

/** Every workload's windows, labelled as the conditions table shows them. */
function allSeries(results: Results): Array<[string, Series<WindowResult> | undefined]> {
  return [
    ...results.levels.flatMap((level): Array<[string, Series<WindowResult> | undefined]> => [
      [`W1 ${k(level.sockets)}`, level.fanout],
      [`W2 ${k(level.sockets)}`, level.latency],
      [`W2 ${k(level.sockets)}, POSTs of 10`, level.smallBatchLatency],
    ]),
    ['W4', results.connect],
    ['W5', results.ingest],
    ['W1 deflate', results.deflate?.fanout],
    ['W6 closed loop', results.producer?.throughput],
    [`W6 at ${k(results.producer?.entriesPerSecond ?? 0)} entries/s`, results.producer?.latency],
  ];
}

const k = (n: number) => n.toLocaleString('en');

/** The markdown report: targets, every figure, the scale curve, the conditions of every window. */
export function renderReport(results: Results, command: string): string {
  const m = results.machine;
  const main = results.levels[0];
  const out: string[] = [];
  out.push('# livetail benchmarks: livetail, bare ws and Socket.IO side by side', '');
  out.push(
    `\`${command}\` (${results.profile} profile) on ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${Math.round(results.seconds)} s. ` +
      `Machine: ${m.cores} × ${m.cpus}, ${m.memoryGiB} GiB, ${m.kernel}, Node ${m.node}, open files ${k(m.openFilesLimit)}, load average at start ${m.loadAverageAtStart.join(' / ')}.`,
    '',
  );
  const bytes = main?.fanout ? COMPARED.map((name) => `${name} ${main.fanout?.[name]?.[0]?.messageBytes ?? '?'}`).join(', ') : '';
  out.push(
    `Users: ${k(results.users.signedUp)} signed up through POST /api/auth/sign-up/email, ${k(results.users.total - results.users.signedUp)} more made with better-auth's internal adapter (same tables, same signed cookie, same session check at upgrade). ` +
      `Each user has ${main ? Math.round(main.sockets / main.users) : 10} sockets. ${bytes ? `One delivered \`log\` message in bytes: ${bytes} (Socket.IO frames add \`42["log",…]\`).` : ''}`,
    '',
  );
  out.push(...quiet(results), '');

  const w1 = main?.fanout;
  const w2 = main?.latency;
  const w3 = memoryPoint(results);
  const headline: Row[] = [];
  if (w1) {
    headline.push({ figure: `W1 deliveries/s (${k(main!.sockets)} sockets)`, values: medians(w1, (w) => w.deliveriesPerSecond), format: int, target: both(relative('bare-ws', 0.8, true), relative('socket.io', 1.5, true)), why: WHY.w1 });
    headline.push({ figure: 'W1 server CPU µs per delivery', values: medians(w1, (w) => w.serverMicrosPerDelivery), format: dec(2), target: relative('bare-ws', 1.25, false), why: WHY.w1cpu });
  }
  if (w2) headline.push({ figure: `W2 p99 latency, ms (${k(main!.sockets)} sockets, ${k(results.settings.latencyLogsPerSecond)} logs/s in POSTs of ${results.settings.latencyBatch})`, values: medians(w2, (w) => w.p99), format: dec(2), target: relative('bare-ws', 1.5, false), why: WHY.w2 });
  if (w3) {
    headline.push({ figure: `W3 RSS bytes per socket (${k(w3.sockets)} idle)`, values: memoryValues(w3.memory, 'rss'), format: int, target: relative('bare-ws', 1.3, false), why: WHY.w3 });
    headline.push({ figure: `W3 heap bytes per socket (${k(w3.sockets)} idle)`, values: memoryValues(w3.memory, 'heap'), format: int, target: relative('bare-ws', 1.3, false), why: WHY.w3 });
  }
  if (results.connect) headline.push({ figure: 'W4 connections/s', values: medians(results.connect, (w) => w.connectsPerSecond), format: int, target: relative('bare-ws', 0.5, true), why: WHY.w4 });
  if (results.ingest) {
    const ingest = medians(results.ingest, (w) => w.logsPerSecond);
    const how = `${results.settings.ingestInFlight} POSTs of 100 in flight${results.settings.ingestFilled ? ', store at retention' : ', empty store'}`;
    headline.push({ figure: `W5 logs stored/s, SQLite (${how})`, values: { livetail: ingest.sqlite }, format: int, target: absolute('livetail', 50_000, 'logs/s'), why: WHY.w5 });
    headline.push({ figure: `W5 logs stored/s, PostgreSQL (${how})`, values: { livetail: ingest.postgres }, format: int, target: absolute('livetail', 20_000, 'logs/s'), why: WHY.w5pg });
  }
  if (results.producer) {
    const p99 = medians(results.producer.latency, (w) => w.p99)[PUBLISHER];
    headline.push({ figure: `W6 livetail/publisher latency p99, ms (publish() to 201, ${k(results.producer.entriesPerSecond)} entries/s)`, values: { livetail: p99 }, format: dec(2), target: atMost('livetail', 20, 'ms'), why: WHY.w6 });
  }
  out.push('## Targets', '', 'Medians over interleaved rounds; ratios are livetail divided by the other target, from the same run.', '');
  out.push(...table(headline, true), '');
  const missed = headline.filter((row) => row.why && row.target?.check(row.values)?.met === false);
  if (missed.length > 0) {
    out.push('Why a target is missed (where the CPU goes, from `perf` and `node --cpu-prof` profiles; see bench/results/history.md):', '');
    for (const row of missed) out.push(`- **${row.figure}**: ${row.why}`);
    out.push('');
  }

  out.push('## Every figure', '');
  const rows: Row[] = [];
  for (const level of results.levels) {
    const s = k(level.sockets);
    if (level.fanout) {
      rows.push({ figure: `W1 deliveries/s, ${s} sockets`, values: medians(level.fanout, (w) => w.deliveriesPerSecond), format: int });
      rows.push({ figure: `W1 server CPU µs per delivery, ${s} sockets`, values: medians(level.fanout, (w) => w.serverMicrosPerDelivery), format: dec(2) });
    }
    if (level.latency) {
      rows.push({ figure: `W2 p50 latency ms, ${s} sockets`, values: medians(level.latency, (w) => w.p50), format: dec(2) });
      rows.push({ figure: `W2 p99 latency ms, ${s} sockets`, values: medians(level.latency, (w) => w.p99), format: dec(2) });
      rows.push({ figure: `W2 p99.9 latency ms, ${s} sockets`, values: medians(level.latency, (w) => w.p999), format: dec(2) });
      rows.push({ figure: `W2 server CPU µs per delivery at ${k(results.settings.latencyLogsPerSecond)} logs/s, ${s} sockets`, values: medians(level.latency, (w) => w.serverMicrosPerDelivery), format: dec(2) });
    }
    if (level.smallBatchLatency) {
      rows.push({ figure: `W2 p50 latency ms, POSTs of 10 every 5 ms, ${s} sockets`, values: medians(level.smallBatchLatency, (w) => w.p50), format: dec(2) });
      rows.push({ figure: `W2 p99 latency ms, POSTs of 10 every 5 ms, ${s} sockets`, values: medians(level.smallBatchLatency, (w) => w.p99), format: dec(2) });
      rows.push({ figure: `W2 server CPU µs per delivery, POSTs of 10 every 5 ms, ${s} sockets`, values: medians(level.smallBatchLatency, (w) => w.serverMicrosPerDelivery), format: dec(2) });
    }
    rows.push({ figure: `W3 RSS bytes per socket, ${s} sockets`, values: memoryValues(level.memory, 'rss'), format: int });
    rows.push({ figure: `W3 heap bytes per socket, ${s} sockets`, values: memoryValues(level.memory, 'heap'), format: int });
  }
  for (const point of results.memoryGrowth) {
    const from = k(results.levels[results.levels.length - 1]?.sockets ?? 0);
    rows.push({ figure: `W3 RSS bytes per socket, ${k(point.sockets)} sockets (grown from ${from} after its load)`, values: memoryValues(point.memory, 'rss'), format: int });
    rows.push({ figure: `W3 heap bytes per socket, ${k(point.sockets)} sockets (grown from ${from})`, values: memoryValues(point.memory, 'heap'), format: int });
  }
  if (results.connect) {
    rows.push({ figure: 'W4 connections/s', values: medians(results.connect, (w) => w.connectsPerSecond), format: int });
    rows.push({ figure: 'W4 server CPU µs per connect', values: medians(results.connect, (w) => w.serverMicrosPerConnect), format: int });
  }
  if (results.ingest) {
    const perLog = medians(results.ingest, (w) => w.serverMicrosPerLog);
    rows.push({ figure: 'W5 server CPU µs per log stored, SQLite', values: { livetail: perLog.sqlite }, format: dec(1) });
    rows.push({ figure: 'W5 server CPU µs per log stored, PostgreSQL (livetail process)', values: { livetail: perLog.postgres }, format: dec(1) });
    const withDatabase = medians(results.ingest, (w) => w.withDatabaseMicrosPerLog);
    rows.push({ figure: 'W5 CPU µs per log stored, PostgreSQL (livetail + PostgreSQL backends)', values: { livetail: withDatabase.postgres }, format: dec(1) });
  }
  if (results.deflate) {
    const n = k(Object.values(results.deflate.active)[0]?.sockets ?? 0);
    rows.push({ figure: `W1 deliveries/s with permessage-deflate accepted, ${n} sockets`, values: medians(results.deflate.fanout, (w) => w.deliveriesPerSecond), format: int });
    rows.push({ figure: `W1 server CPU µs per delivery, permessage-deflate, ${n} sockets`, values: medians(results.deflate.fanout, (w) => w.serverMicrosPerDelivery), format: dec(2) });
    rows.push({ figure: `RSS bytes per active socket, permessage-deflate, ${n} sockets`, values: memoryValues(results.deflate.active, 'rss'), format: int });
  }
  out.push(...table(rows, false), '');

  if (results.producer || results.adapter) out.push(...producers(results), '');
  if (results.levels.length + results.memoryGrowth.length > 1) out.push(...scaleCurve(results), '');
  out.push(...conditions(results), '');
  if (results.notes.length > 0) out.push('## Notes', '', ...results.notes.map((n) => `- ${n}`), '');
  out.push(...MEANING);
  return out.join('\n');
}

/** W6 and W7: what producing logs costs, by way of producing them. */
function producers(results: Results): string[] {
  const out = ['## Producers', ''];
  const p = results.producer;
  if (p) {
    out.push(
      `W6: livetail alone (SQLite, nobody listening), entries for random users. Closed loop: ${ONE_PER_ENTRY} with ${p.inFlight} POSTs outstanding (as ${p.inFlight} producers sending each operation by hand), ` +
        `against one livetail/publisher with its defaults (batches of up to 100, 5 ms linger, one POST at a time), kept full. Then both at ${k(p.entriesPerSecond)} entries/s on a steady clock: ` +
        'latency from publish() (or the POST\'s start) to the 201 that took the entry. "Producer CPU" is the publishing process\'s own (the harness: building, serializing, the HTTP client).',
      '',
      `| figure | ${ONE_PER_ENTRY} | ${PUBLISHER} | ${PUBLISHER} / ${ONE_PER_ENTRY} |`,
      '|---|---|---|---|',
    );
    const row = (figure: string, values: Values, format: (n: number) => string) =>
      out.push(`| ${figure} | ${format(values[ONE_PER_ENTRY] ?? Number.NaN)} | ${format(values[PUBLISHER] ?? Number.NaN)} | ${x(ratio(values[PUBLISHER], values[ONE_PER_ENTRY]))} |`);
    row('W6 entries/s, closed loop', medians(p.throughput, (w) => w.entriesPerSecond), int);
    row('W6 server CPU µs per entry, closed loop', medians(p.throughput, (w) => w.serverMicrosPerEntry), dec(1));
    row('W6 producer CPU µs per entry, closed loop', medians(p.throughput, (w) => w.appMicrosPerEntry), dec(1));
    row('W6 entries per POST, closed loop', medians(p.throughput, (w) => w.meanBatch), dec(1));
    row(`W6 latency p50 ms at ${k(p.entriesPerSecond)} entries/s`, medians(p.latency, (w) => w.p50), dec(2));
    row(`W6 latency p99 ms at ${k(p.entriesPerSecond)} entries/s`, medians(p.latency, (w) => w.p99), dec(2));
    row(`W6 server CPU µs per entry at ${k(p.entriesPerSecond)} entries/s`, medians(p.latency, (w) => w.serverMicrosPerEntry), dec(1));
    out.push('');
  }
  const a = results.adapter;
  if (a && 'unavailable' in a) out.push(`W7, the ImapFlow adapter's cost per command: not measured (${a.unavailable}).`);
  else if (a) {
    out.push(
      `W7: CPU of the app process per IMAP command, ImapFlow against a local Dovecot, without a logger and with imapflowLogger (its sink only counting: add the publisher's producer CPU per entry above for the whole path). ` +
        `${k(a.commands)} commands of each kind per round, ${a.rounds} round${a.rounds === 1 ? '' : 's'}, the clients taking turns.`,
      '',
      '| command | µs without a logger | µs with imapflowLogger | adapter µs per command | the same with `fetchResponses: true` | the adapter\'s own code alone (replayed), µs | entries per command |',
      '|---|---|---|---|---|---|---|',
    );
    for (const [kind, c] of Object.entries(a.kinds)) {
      out.push(`| ${kind} | ${c.without.toFixed(0)} | ${c.with.toFixed(0)} | ${(c.with - c.without).toFixed(0)} | ${(c.withFetchRows - c.without).toFixed(0)} | ${c.replayed.toFixed(1)} | ${c.entries.toFixed(2)} |`);
    }
    out.push(
      '',
      'The differences are small next to the commands\' own cost, so on a busy machine they drift by tens of µs; the replayed column (the calls ImapFlow made for one such command, fed to the adapter again and again) does not, and is its floor.',
    );
  }
  return out;
}

/** Where livetail's extra cost comes from, per target; shown only beside a target the run missed. */
const WHY = {
  w1:
    'on two cores W1 is server-bound for livetail and Socket.IO alike, so the throughput ratio follows the ratio of server CPU per delivery. ' +
    'livetail\'s fan-out costs less per delivery than Socket.IO\'s (each message framed once, the frames of one commit written to a socket in one writev), ' +
    'but every log is also validated, sanitized, given an id and committed to the store before it is sent, which the others do not do ' +
    '(in W1 the SQLite commit is about a quarter of livetail\'s server CPU). ' +
    'At 5,000 and 10,000 sockets (more users, so fewer messages per socket per commit) the coalescing gains less.',
  w1cpu:
    'the per-log ingest work (store commit, id, validation, sanitizing) is spread over the sockets of the log\'s user; with fewer messages per socket per commit (more users) ' +
    'the coalesced writes save less, and the ratio rises with the number of users.',
  w2:
    'each message waits for its POST\'s validation and sanitizing and for its batch\'s store commit (about 3–5 ms for 100 logs) before it is fanned out; ' +
    'bare ws starts sending while the request is still being handled. With POSTs of 10 logs, per-request work (Express middleware, auth, one commit per POST) ' +
    'nearly saturates livetail at 2,000 logs/s.',
  w3:
    'per socket livetail keeps a Connection (stream position, pending queue, rate budget), the user\'s pool entry and two more listeners than bare ws; ' +
    'the rate budget is made only when a client first sends, the default channel set and the listener functions are shared.',
  w4:
    'a connect costs livetail several times bare ws\'s server CPU. A `--cpu-prof` profile of W4 splits it into: accepting the connection, parsing the request and the WebSocket handshake, as in bare ws (about 30 %); ' +
    'serializing, framing and writing initial-logs and initial-jobs, which bare ws does not send (about 12 %); the store reads behind them (about 11 %: prepared statements straight on better-sqlite3 in one read transaction); ' +
    'the connect and close log lines with their redaction (about 7 %); the close path (about 6 %); better-auth\'s getSession where the session cache cannot answer (about 5 %: the first check of a user is made before the node follows the user, ' +
    'so it is not trusted for the next socket); GC (about 4 %); the Origin, rate and query checks, the Connection, its pool entry and the metrics share the rest.',
  w5:
    '40–50 µs of server CPU per log (by host), so one core stores 20,000–25,000 logs/s; 50,000 would need 20 µs per log in all. Profiled at retention, SQLite\'s own work is more than half of it: ' +
    'each log is a row in two B-trees (the primary key, without a rowid table, and the id index used by `since`), every touched page goes to the WAL, and as many old rows are deleted as new ones added. ' +
    'The same inserts and deletes run straight through better-sqlite3, with no HTTP, validation or Kysely at all, cost 12–20 µs of CPU per log on this machine, ' +
    'so 50,000 logs/s is out of reach for one SQLite writer keeping a row per log; the rest is HTTP and body parsing, validation, sanitizing, GC and the 201 echo of the stored logs.',
  w6:
    'a published entry waits for the 5 ms linger, then behind the POST in flight (one at a time, to keep publish order), then for its own POST: ' +
    'validation, sanitizing and the store commit of its batch. On a busy machine the wait behind the previous POST dominates.',
  w5pg:
    'each commit is a handful of round trips to PostgreSQL (begin, lock heads, insert, trim, write heads, commit) on one connection at a time, ' +
    'so livetail waits on them and stays well under one core; the PostgreSQL backends add about half as much CPU per log again (see the conditions table).',
};

/** What each figure means: printed under every report so a table is never read without it. */
const MEANING = [
  '## What the figures mean',
  '',
  '- **Targets.** livetail runs as users run it: `node dist/main.js`, NODE_ENV=production, a SQLite file (or a fresh PostgreSQL database) of its own, better-auth sessions checked at every upgrade, logs posted to POST /api/logs with INGEST_TOKEN, validated, sanitized, stored, then fanned out; limits raised only so the benchmark never trips them. **bare-ws** is node http + ws: per-user socket sets, the same POST endpoint stringifying each message once and sending it, nothing checked or stored. **socket.io** is Socket.IO 4 with a room per user and the same endpoint. All three send the same `log` message. Each stage starts its targets fresh, each in its own process.',
  '- **Clients** are separate worker processes (their CPU is in the conditions table; a worker near 100 % means the clients, not the server, set the rate). They offer permessage-deflate as browsers do; every server declines it unless a row says otherwise (livetail: PERMESSAGE_DEFLATE=false by default, because compressing each ~450-byte message separately per socket costs far more CPU and memory than it saves).',
  '- **W1 deliveries/s**: messages received by all clients per second while batches of 100 logs for random users are posted with a few POSTs (and at most that many batches not yet received) outstanding. On two cores this is bounded by whichever of server and clients saturates first, so read it with the next figure.',
  '- **Server CPU µs per delivery**: CPU time of the server process (all threads, user + system, from /proc/<pid>/stat) over the window, divided by the messages delivered in it. It includes everything the server does for them: for livetail HTTP, validation, sanitizing, the store commit and the fan-out. This is the figure that compares targets fairly on a shared machine.',
  '- **W2 latency**: from just before the POST is sent to the moment a client receives the message (the monotonic clock all processes share), at a fixed rate of 2,000 logs/s (≈ 20,000 deliveries/s) in POSTs of 100 logs every 50 ms, like W1 and W5; the rows "POSTs of 10 every 5 ms" show the same rate in ten times as many requests, where per-request work (HTTP, auth, validation, one store commit per POST) weighs more.',
  '- **W3 bytes per socket**: growth of the server\'s RSS and of its V8 heap (without compiled code) per idle authenticated socket, after two full GCs, measured over the last 90 % of the sockets (the first 10 % warm every lazy path). The largest point grows the last stage\'s targets one at a time (a process may open only so many files here); its RSS can reuse memory freed after that stage\'s load, so its heap figure is the one to compare.',
  '- **W4 connections/s**: connects at the given concurrency until each socket can receive: for livetail when `initial-logs` arrived (Origin, rate and session checks, store read done), for Socket.IO after its connect packet, for bare ws at `open`. livetail checks sessions through a cache of a few seconds (SESSION_CACHE_TTL_MS), so most connects of a user reuse one check.',
  '- **W5 logs stored/s**: logs acknowledged with 201 per second by livetail alone (no sockets), each POST a batch of 100.',
  '- **W6 producers**: the same ingest as W5, once as producers send entries by hand (one POST each) and once through livetail/publisher; the latency rows are from publish() (or the POST\'s start) to the 201 that took the entry, at a fixed rate. **W7** is the ImapFlow adapter\'s CPU per command in the app process (ImapFlow formatting its traffic for a logger included).',
  '- **Scale curve**: the same figures at more sockets (10 per user, more users); a ratio near 1.00 between the largest and the smallest point means the cost per delivery or per socket stays flat, i.e. the total grows linearly.',
  '- **Conditions**: where the machine\'s CPU went during the windows. "Other processes" is CPU used outside the benchmark; windows above the threshold are run again when time allows, and the count of still-disturbed windows is shown. Absolute figures drift ±10–15 % between runs even on a quiet machine; ratios from one run drift less.',
  '',
];

/** How much each cost grows from the smallest to the largest point: 1.00 is perfectly linear. */
function scaleCurve(results: Results): string[] {
  const out = ['## Scale curve', '', 'Cost at the largest point divided by cost at the smallest (1.00 = the total cost grows exactly linearly with sockets).', ''];
  out.push('| figure | points | livetail | bare-ws | socket.io |', '|---|---|---|---|---|');
  const fanoutLevels = results.levels.filter((l) => l.fanout);
  if (fanoutLevels.length > 1) {
    const first = fanoutLevels[0]!;
    const last = fanoutLevels[fanoutLevels.length - 1]!;
    const a = medians(first.fanout, (w) => w.serverMicrosPerDelivery);
    const b = medians(last.fanout, (w) => w.serverMicrosPerDelivery);
    out.push(`| W1 server CPU µs per delivery | ${k(first.sockets)} → ${k(last.sockets)} | ${COMPARED.map((t) => x(ratio(b[t], a[t]))).join(' | ')} |`);
    const la = medians(first.latency, (w) => w.p99);
    const lb = medians(last.latency, (w) => w.p99);
    out.push(`| W2 p99 latency | ${k(first.sockets)} → ${k(last.sockets)} | ${COMPARED.map((t) => x(ratio(lb[t], la[t]))).join(' | ')} |`);
  }
  const memory = memoryPoints(results).filter((p) => p.sockets >= 1000);
  const m10 = memory.find((p) => p.sockets === 10_000);
  const mTop = memory.sort((p, q) => q.sockets - p.sockets)[0];
  if (m10 && mTop && mTop !== m10) {
    out.push(`| W3 RSS bytes per socket | ${k(m10.sockets)} → ${k(mTop.sockets)} | ${COMPARED.map((t) => x(ratio(mTop.memory[t]?.rss, m10.memory[t]?.rss))).join(' | ')} |`);
    out.push(`| W3 heap bytes per socket | ${k(m10.sockets)} → ${k(mTop.sockets)} | ${COMPARED.map((t) => x(ratio(mTop.memory[t]?.heap, m10.memory[t]?.heap))).join(' | ')} |`);
  }
  return out;
}

/** Where the CPU went during each workload's windows, and how disturbed they were. */
function conditions(results: Results): string[] {
  const out = [
    '## Conditions of the windows',
    '',
    'Share of one core over each window (100 % = one core busy), medians over the windows of that workload and target; ' +
      '"other" is CPU used by processes that are not part of the benchmark (max over the windows in brackets). ' +
      'A window where other processes used more than the disturbance threshold was run again when time allowed.',
    '',
    '| workload | target | server | database server | client workers | harness (poster) | interrupts | other processes | reruns | disturbed windows | errors |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const pct = (n: number) => (Number.isFinite(n) ? `${(n * 100).toFixed(0)} %` : '–');
  const add = (workload: string, series: Series<WindowResult> | undefined) => {
    for (const [name, windows] of Object.entries(series ?? {})) {
      const clients = windows[0]!.cpu.clients.map((_, i) => pct(median(windows.map((w) => w.cpu.clients[i]!)))).join(' + ');
      const errors = windows.flatMap((w) => w.errors);
      out.push(
        `| ${workload} | ${name} | ${pct(median(windows.map((w) => w.cpu.server)))} | ${windows.some((w) => w.cpu.database > 0) ? pct(median(windows.map((w) => w.cpu.database))) : '–'} | ${clients} | ${pct(median(windows.map((w) => w.cpu.harness)))} | ${pct(median(windows.map((w) => w.cpu.interrupts)))} | ` +
          `${pct(median(windows.map((w) => w.cpu.other)))} (${pct(max(windows.map((w) => w.cpu.other)))}) | ${windows.reduce((s, w) => s + w.reruns, 0)} | ` +
          `${windows.filter((w) => w.disturbed).length} of ${windows.length} | ${errors.length ? errors.join('; ') : 'none'} |`,
      );
    }
  };
  for (const [workload, series] of allSeries(results)) add(workload, series);
  return out;
}

/** One line on how quiet the machine was: what the lead needs to judge the run. */
function quiet(results: Results): string[] {
  const windows: Array<Measured<WindowResult>> = allSeries(results).flatMap(([, series]) => Object.values(series ?? {}).flat());
  if (windows.length === 0) return [];
  const others = windows.map((w) => w.cpu.other);
  const disturbed = windows.filter((w) => w.disturbed).length;
  return [
    `**Machine quietness:** other processes used a median ${(median(others) * 100).toFixed(0)} % and at most ${(max(others) * 100).toFixed(0)} % of a core during the ${windows.length} measurement windows; ` +
      `${disturbed} window${disturbed === 1 ? ' was' : 's were'} still disturbed after reruns.${disturbed > 0 ? ' Figures from a disturbed machine drift; the ratios drift less. Re-run on a quiet machine: `npm run bench`.' : ''}`,
  ];
}
