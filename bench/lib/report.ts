import { BARE_EXPRESS } from './per-request.js';
import { RAW_SQLITE } from './raw-sqlite.js';
import { MEANING, WHY } from './report-text.js';
import {
  type Row,
  type Values,
  atLeast,
  atMost,
  both,
  dec,
  int,
  k,
  medians,
  missedReasons,
  none,
  ratio,
  referenceTable,
  relative,
  table,
  x,
} from './report-table.js';
import { BARE_WS_INITIAL_LOGS, type LevelResult, type Measured, ONE_PER_ENTRY, PUBLISHER, type PerSocketMemory, type Results, type Series } from './results.js';
import { max, median } from './stats.js';
import type { StormWindow } from './storm.js';
import { TARGETS as COMPARED } from './targets.js';
import type { ConnectWindow, WindowResult } from './windows.js';

function memoryValues(memory: Record<string, PerSocketMemory> | undefined, pick: 'rss' | 'heap'): Values {
  return Object.fromEntries(Object.entries(memory ?? {}).map(([name, m]) => [name, m[pick]]));
}

type MemoryPoint = { sockets: number; memory: Record<string, PerSocketMemory> };

/** Every W3 measurement: one per level, then the point at scale on fresh targets. */
function memoryPoints(results: Results): MemoryPoint[] {
  const scale = results.idleScale ? [{ sockets: results.idleScale.sockets, memory: results.idleScale.memory }] : [];
  return [...results.levels.map((l) => ({ sockets: l.sockets, memory: l.memory })), ...scale];
}

/** The W3 point the 10,000-socket target is checked on: 10,000 sockets, else the largest level. */
function memoryPoint(results: Results): MemoryPoint | undefined {
  const points = results.levels.map((l) => ({ sockets: l.sockets, memory: l.memory }));
  return points.find((p) => p.sockets === 10_000) ?? points.sort((a, b) => b.sockets - a.sockets)[0];
}

/** W1's server CPU per delivery at the largest level divided by that at the smallest, per target. */
function fanoutGrowth(results: Results): { first: LevelResult; last: LevelResult; growth: Values } | undefined {
  const levels = results.levels.filter((l) => l.fanout);
  if (levels.length < 2) return undefined;
  const first = levels[0]!;
  const last = levels[levels.length - 1]!;
  const a = medians(first.fanout, (w) => w.serverMicrosPerDelivery);
  const b = medians(last.fanout, (w) => w.serverMicrosPerDelivery);
  return { first, last, growth: Object.fromEntries(COMPARED.map((t) => [t, ratio(b[t], a[t])])) };
}

/** Every workload's windows, labelled as the conditions table shows them. */
function allSeries(results: Results): Array<[string, Series<WindowResult> | undefined]> {
  return [
    ...results.levels.flatMap((level): Array<[string, Series<WindowResult> | undefined]> => [
      [`W1 ${k(level.sockets)}`, level.fanout],
      [`W2 ${k(level.sockets)}`, level.latency],
      [`W2 ${k(level.sockets)}, POSTs of 10`, level.smallBatchLatency],
    ]),
    ...Object.entries(results.perRequest?.batches ?? {}).map(([batch, series]): [string, Series<WindowResult>] => [`per request, POSTs of ${batch}`, series]),
    ['W4', results.connect],
    ['W5', results.ingest],
    ['storm', results.storm?.series],
    ['W1 deflate', results.deflate?.fanout],
    ['W6 closed loop', results.producer?.throughput],
    [`W6 at ${k(results.producer?.entriesPerSecond ?? 0)} entries/s`, results.producer?.latency],
  ];
}

/** A storm's lost, doubled, not stored and out-of-order deliveries together (NaN when not counted). */
const stormProblems = (w: Measured<StormWindow>) => (w.counts ? w.counts.lost + w.counts.doubled + w.counts.notStored + w.counts.outOfOrder : Number.NaN);

/** The markdown report: targets, every figure, the scale curve, the conditions of every window. */
export function renderReport(results: Results, command: string): string {
  const m = results.machine;
  const main = results.levels[0];
  const out: string[] = [];
  out.push('# livetail benchmarks: livetail, bare ws and Socket.IO side by side', '');
  out.push(
    `\`${command}\` (${results.profile} profile) on ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${Math.round(results.seconds)} s. ` +
      `Machine: ${m.cores} × ${m.cpus}, ${m.memoryGiB} GiB, ${m.kernel}, Node ${m.node}, open files ${k(m.openFilesLimit)}${m.openFilesHardLimit !== undefined && m.openFilesHardLimit !== m.openFilesLimit ? ` (hard ${k(m.openFilesHardLimit)})` : ''}, load average at start ${m.loadAverageAtStart.join(' / ')}.`,
    '',
  );
  const bytes = main?.fanout ? COMPARED.map((name) => `${name} ${main.fanout?.[name]?.[0]?.messageBytes ?? '?'}`).join(', ') : '';
  out.push(
    `Users: ${k(results.users.signedUp)} signed up through POST /api/auth/sign-up/email, ${k(results.users.total - results.users.signedUp)} more made with better-auth's internal adapter (same tables, same signed cookie, same session check at upgrade). ` +
      `Each user has ${main ? Math.round(main.sockets / main.users) : 10} sockets. ${bytes ? `One delivered \`log\` message in bytes: ${bytes} (Socket.IO frames add \`42["log",…]\`).` : ''}`,
    '',
  );
  out.push(...quiet(results), '');

  const headline = socketTargets(results);
  const references = referenceTargets(results);
  out.push('## Targets', '', 'Medians over interleaved rounds; ratios are livetail divided by the other target, from the same run.', '');
  if (headline.length > 0) out.push(...table(headline, true), '');
  if (references.length > 0) {
    out.push('Against a reference of its own (run in the same stage, interleaved), or an absolute figure:', '');
    out.push(...referenceTable(references, true), '');
  }
  out.push(...missedReasons([...headline, ...references]));

  out.push('## Every figure', '');
  const figures = everyFigure(results);
  if (figures.length > 0) out.push(...table(figures, false), '');
  const referenceRows = everyReferenceFigure(results);
  if (referenceRows.length > 0) out.push(...referenceTable(referenceRows, false), '');
  if (results.storm) out.push(...stormTable(results.storm), '');

  if (results.producer || results.adapter) out.push(...producers(results), '');
  if (results.levels.length > 1 || results.idleScale) out.push(...scaleCurve(results), '');
  out.push(...conditions(results), '');
  if (results.notes.length > 0) out.push('## Notes', '', ...results.notes.map((n) => `- ${n}`), '');
  out.push(...MEANING);
  return out.join('\n');
}

/** The issue's targets against bare ws (and Socket.IO). */
function socketTargets(results: Results): Row[] {
  const main = results.levels[0];
  const rows: Row[] = [];
  const w1 = main?.fanout;
  if (w1) {
    rows.push({ figure: `W1 deliveries/s (${k(main!.sockets)} sockets)`, values: medians(w1, (w) => w.deliveriesPerSecond), format: int, target: both(relative('bare-ws', 0.8, true), relative('socket.io', 1.5, true)), why: WHY.w1 });
    rows.push({ figure: 'W1 server CPU µs per delivery', values: medians(w1, (w) => w.serverMicrosPerDelivery), format: dec(2), target: relative('bare-ws', 1.25, false), why: WHY.w1cpu });
  }
  if (main?.latency) rows.push({ figure: `W2 p99 latency, ms (${k(main.sockets)} sockets, ${k(results.settings.latencyLogsPerSecond)} logs/s in POSTs of ${results.settings.latencyBatch})`, values: medians(main.latency, (w) => w.p99), format: dec(2), target: relative('bare-ws', 1.5, false), why: WHY.w2 });
  const small = main?.smallBatchLatency;
  if (small) {
    const how = `${k(main!.sockets)} sockets, ${k(results.settings.latencyLogsPerSecond)} logs/s in POSTs of 10 every 5 ms`;
    rows.push({ figure: `W2 p99 latency, ms (${how})`, values: medians(small, (w) => w.p99), format: dec(2), target: relative('bare-ws', 2, false), why: WHY.w2small });
    rows.push({ figure: `W2 server CPU µs per delivery (${how})`, values: medians(small, (w) => w.serverMicrosPerDelivery), format: dec(2), target: relative('bare-ws', 1.5, false), why: WHY.w2small });
  }
  const w3 = memoryPoint(results);
  if (w3) {
    rows.push({ figure: `W3 RSS bytes per socket (${k(w3.sockets)} idle)`, values: memoryValues(w3.memory, 'rss'), format: int, target: relative('bare-ws', 1.3, false), why: WHY.w3 });
    rows.push({ figure: `W3 heap bytes per socket (${k(w3.sockets)} idle)`, values: memoryValues(w3.memory, 'heap'), format: int, target: relative('bare-ws', 1.3, false), why: WHY.w3 });
  }
  const scale = results.idleScale;
  if (scale) {
    const caveat = scale.sockets < scale.requested ? `measured at ${k(scale.sockets)} sockets, not ${k(scale.requested)} (see the notes)` : undefined;
    rows.push({ figure: `W3 RSS bytes per socket (${k(scale.sockets)} idle, fresh targets, one node)`, values: memoryValues(scale.memory, 'rss'), format: int, target: relative('bare-ws', 1, false), why: WHY.w3, caveat });
  }
  const growth = fanoutGrowth(results);
  if (growth) rows.push({ figure: `W1 server CPU per delivery, growth ${k(growth.first.sockets)} → ${k(growth.last.sockets)} sockets (×)`, values: growth.growth, format: dec(2), target: relative('bare-ws', 1, false), why: WHY.w1growth });
  if (results.connect) {
    const stored = results.connectStoredLogs ? `, ${k(results.connectStoredLogs)} logs stored per user` : '';
    rows.push({ figure: `W4 connections/s (whole path: Origin, rate, session, initial-logs of the newest stored logs${stored})`, values: medians(results.connect, (w) => w.connectsPerSecond), format: int, target: relative('bare-ws', 0.8, true), why: WHY.w4 });
  }
  const storm = results.storm;
  if (storm) {
    rows.push({ figure: `Reconnect storm: ms from kill -9 to all ${k(storm.clients)} clients resumed`, values: medians(storm.series, (w) => w.allResumedMs), format: int, target: relative('bare-ws', 2, false), why: WHY.storm });
    const stored = medians(storm.series, (w) => w.stored ?? Number.NaN).livetail;
    rows.push({ figure: `Reconnect storm: logs lost, doubled, out of order or not stored (${stored === undefined ? '?' : int(stored)} stored, each counted for every client of its user)`, values: { livetail: max((storm.series.livetail ?? []).map(stormProblems)) }, format: int, target: none('logs'), why: WHY.stormLoss });
  }
  return rows;
}

/** The issue's targets against a reference of livetail's own (bare Express, raw better-sqlite3) or an absolute figure. */
function referenceTargets(results: Results): Row[] {
  const rows: Row[] = [];
  const perRequest = results.perRequest;
  for (const [batch, series] of Object.entries(perRequest?.batches ?? {})) {
    const one = batch === '1';
    rows.push({
      figure: `Per request: server CPU µs per POST /api/logs of ${batch} ${one ? 'entry' : 'entries'} (${perRequest!.inFlight} in flight, no sockets)`,
      values: medians(series, (w) => w.serverMicrosPerRequest),
      format: int,
      reference: BARE_EXPRESS,
      // The issue's target is the single entry; 10 entries is the context beside it.
      ...(one ? { target: relative(BARE_EXPRESS, 1.5, false), why: WHY.perRequest } : {}),
    });
  }
  if (results.connect?.[BARE_WS_INITIAL_LOGS]) {
    // Context beside W4's target: what the initial-logs bytes alone cost a server that does nothing else.
    const of = (w: (x: ConnectWindow) => number) => {
      const all = medians(results.connect!, w);
      return { livetail: all.livetail, [BARE_WS_INITIAL_LOGS]: all[BARE_WS_INITIAL_LOGS] };
    };
    rows.push({ figure: "W4 connections/s against bare ws that writes each new socket a message of livetail's initial-logs size", values: of((w) => w.connectsPerSecond), format: int, reference: BARE_WS_INITIAL_LOGS });
    rows.push({ figure: 'W4 server CPU µs per connect, the same', values: of((w) => w.serverMicrosPerConnect), format: int, reference: BARE_WS_INITIAL_LOGS });
  }
  if (results.ingest) {
    const ingest = medians(results.ingest, (w) => w.logsPerSecond);
    const how = `${results.settings.ingestInFlight} POSTs of 100 in flight${results.settings.ingestFilled ? ', store at retention' : ', empty store'}`;
    rows.push({ figure: `W5 logs stored/s, SQLite, end to end (${how})`, values: { livetail: ingest.sqlite, [RAW_SQLITE]: ingest[RAW_SQLITE] }, format: int, reference: RAW_SQLITE, target: relative(RAW_SQLITE, 0.6, true), why: WHY.w5 });
    rows.push({ figure: `W5 logs stored/s, PostgreSQL (${how})`, values: { livetail: ingest.postgres }, format: int, target: atLeast(30_000, 'logs/s'), why: WHY.w5pg });
  }
  if (results.producer) {
    const p99 = medians(results.producer.latency, (w) => w.p99)[PUBLISHER];
    rows.push({ figure: `W6 livetail/publisher latency p99, ms (publish() to 201, ${k(results.producer.entriesPerSecond)} entries/s)`, values: { livetail: p99 }, format: dec(2), target: atMost(20, 'ms'), why: WHY.w6 });
  }
  return rows;
}

/** Every figure of the socket workloads, three targets side by side. */
function everyFigure(results: Results): Row[] {
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
      rows.push({ figure: `W2 server CPU, % of a core, POSTs of 10 every 5 ms, ${s} sockets`, values: medians(level.smallBatchLatency, (w) => w.cpu.server * 100), format: int });
    }
    rows.push({ figure: `W3 RSS bytes per socket, ${s} sockets`, values: memoryValues(level.memory, 'rss'), format: int });
    rows.push({ figure: `W3 heap bytes per socket, ${s} sockets`, values: memoryValues(level.memory, 'heap'), format: int });
  }
  const scale = results.idleScale;
  if (scale) {
    const how = `${k(scale.sockets)} sockets, fresh targets, clients in ${scale.clientWorkers} workers from ${scale.sourceAddresses} source address${scale.sourceAddresses === 1 ? '' : 'es'}`;
    rows.push({ figure: `W3 RSS bytes per socket, ${how}`, values: memoryValues(scale.memory, 'rss'), format: int });
    rows.push({ figure: `W3 heap bytes per socket, ${k(scale.sockets)} sockets`, values: memoryValues(scale.memory, 'heap'), format: int });
  }
  if (results.connect) {
    rows.push({ figure: 'W4 connections/s', values: medians(results.connect, (w) => w.connectsPerSecond), format: int });
    rows.push({ figure: 'W4 server CPU µs per connect', values: medians(results.connect, (w) => w.serverMicrosPerConnect), format: int });
  }
  if (results.deflate) {
    const n = k(Object.values(results.deflate.active)[0]?.sockets ?? 0);
    rows.push({ figure: `W1 deliveries/s with permessage-deflate accepted, ${n} sockets`, values: medians(results.deflate.fanout, (w) => w.deliveriesPerSecond), format: int });
    rows.push({ figure: `W1 server CPU µs per delivery, permessage-deflate, ${n} sockets`, values: medians(results.deflate.fanout, (w) => w.serverMicrosPerDelivery), format: dec(2) });
    rows.push({ figure: `RSS bytes per active socket, permessage-deflate, ${n} sockets`, values: memoryValues(results.deflate.active, 'rss'), format: int });
  }
  return rows;
}

/** Every figure of the workloads that compare livetail with a reference of their own. */
function everyReferenceFigure(results: Results): Row[] {
  const rows: Row[] = [];
  for (const [batch, series] of Object.entries(results.perRequest?.batches ?? {})) {
    const of = `POSTs of ${batch}`;
    rows.push({ figure: `Per request: POSTs/s answered, ${of}`, values: medians(series, (w) => w.requests / w.cpu.seconds), format: int, reference: BARE_EXPRESS });
    rows.push({ figure: `Per request: server CPU µs per POST, ${of}`, values: medians(series, (w) => w.serverMicrosPerRequest), format: int, reference: BARE_EXPRESS });
    rows.push({ figure: `Per request: server CPU, % of a core, ${of}`, values: medians(series, (w) => w.cpu.server * 100), format: int, reference: BARE_EXPRESS });
  }
  if (results.ingest) {
    const rate = medians(results.ingest, (w) => w.logsPerSecond);
    const perLog = medians(results.ingest, (w) => w.serverMicrosPerLog);
    rows.push({ figure: 'W5 logs stored/s, SQLite', values: { livetail: rate.sqlite, [RAW_SQLITE]: rate[RAW_SQLITE] }, format: int, reference: RAW_SQLITE });
    rows.push({ figure: 'W5 server CPU µs per log stored, SQLite', values: { livetail: perLog.sqlite, [RAW_SQLITE]: perLog[RAW_SQLITE] }, format: dec(1), reference: RAW_SQLITE });
    rows.push({ figure: 'W5 logs stored/s, PostgreSQL', values: { livetail: rate.postgres }, format: int });
    rows.push({ figure: 'W5 server CPU µs per log stored, PostgreSQL (livetail process)', values: { livetail: perLog.postgres }, format: dec(1) });
    const withDatabase = medians(results.ingest, (w) => w.withDatabaseMicrosPerLog);
    rows.push({ figure: 'W5 CPU µs per log stored, PostgreSQL (livetail + PostgreSQL backends)', values: { livetail: withDatabase.postgres }, format: dec(1) });
  }
  return rows;
}

/** The storm's figures per target: the times, how the clients knocked, and livetail's deliveries against the store. */
function stormTable(storm: NonNullable<Results['storm']>): string[] {
  const out = [
    '## Reconnect storm',
    '',
    `${k(storm.clients)} clients (${k(storm.users)} users, ${k(storm.storedLogs)} logs stored for each before they connect); a producer posts ${k(storm.logsPerSecond)} logs/s in POSTs of ${storm.batchSize} for ${k(storm.produceMs)} ms, ` +
      'then the server is killed with -9 (POSTs still in flight) and restarted at once on the same port and data. Times are from the kill; medians over the kills.',
    '',
    '| figure | livetail (livetail/client) | bare-ws (same backoff) | livetail / bare-ws |',
    '|---|---|---|---|',
  ];
  const row = (figure: string, pick: (w: Measured<StormWindow>) => number, format: (n: number) => string) => {
    const v = medians(storm.series, pick);
    out.push(`| ${figure} | ${v.livetail === undefined ? '' : format(v.livetail)} | ${v['bare-ws'] === undefined ? '' : format(v['bare-ws'])} | ${x(ratio(v.livetail, v['bare-ws']))} |`);
  };
  row('all clients resumed, ms after the kill', (w) => w.allResumedMs, int);
  row('restarted server answering /healthz, ms after the kill', (w) => w.restartMs, int);
  row('all clients resumed, ms after the server answered', (w) => w.afterReadyMs, int);
  row('p50 resume, ms after the kill', (w) => w.p50Ms, int);
  row('p99 resume, ms after the kill', (w) => w.p99Ms, int);
  row('connect attempts per client, mean', (w) => w.meanAttempts, dec(1));
  row('connect attempts per client, most', (w) => w.maxAttempts, int);
  row('server CPU s, restarted process until all resumed', (w) => w.cpu.serverSeconds, dec(2));
  row('logs acknowledged before the kill', (w) => w.acked, int);
  row('POSTs failed at the kill', (w) => w.failedPosts, int);
  const counts = (pick: (c: NonNullable<StormWindow['counts']>) => number) => (w: Measured<StormWindow>) => (w.counts ? pick(w.counts) : Number.NaN);
  row('logs stored for the storm\'s users (after the restart)', (w) => w.stored ?? Number.NaN, int);
  row('stored logs a client never delivered (lost)', counts((c) => c.lost), int);
  row('logs a client delivered twice (doubled)', counts((c) => c.doubled), int);
  row('logs delivered out of order', counts((c) => c.outOfOrder), int);
  row('logs delivered that the store does not hold', counts((c) => c.notStored), int);
  const problem = (storm.series.livetail ?? []).find((w) => w.counts?.firstProblem)?.counts?.firstProblem;
  if (problem) out.push('', `First client whose deliveries did not match the store: ${problem}.`);
  return out;
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

/** How much each cost grows from the smallest to the largest point: 1.00 is perfectly linear. */
function scaleCurve(results: Results): string[] {
  const out = ['## Scale curve', '', 'Cost at the largest point divided by cost at the smallest (1.00 = the total cost grows exactly linearly with sockets).', ''];
  out.push('| figure | points | livetail | bare-ws | socket.io |', '|---|---|---|---|---|');
  const growth = fanoutGrowth(results);
  if (growth) {
    const { first, last } = growth;
    out.push(`| W1 server CPU µs per delivery | ${k(first.sockets)} → ${k(last.sockets)} | ${COMPARED.map((t) => x(growth.growth[t] ?? Number.NaN)).join(' | ')} |`);
    const la = medians(first.latency, (w) => w.p99);
    const lb = medians(last.latency, (w) => w.p99);
    out.push(`| W2 p99 latency | ${k(first.sockets)} → ${k(last.sockets)} | ${COMPARED.map((t) => x(ratio(lb[t], la[t]))).join(' | ')} |`);
  }
  const memory = memoryPoints(results).filter((p) => p.sockets >= 1000);
  const m10 = memory.find((p) => p.sockets === 10_000) ?? memory.sort((p, q) => p.sockets - q.sockets)[0];
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
