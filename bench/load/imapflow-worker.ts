import { ImapFlow } from 'imapflow';
import { type ImapflowLoggerOptions, imapflowLogger } from '../../src/imapflow/index.js';

/**
 * The app process of the adapter-cost measurement: ImapFlow clients on the same Dovecot, one with
 * `logger: false` and the others logging through imapflowLogger (with its defaults, and following FETCH
 * rows) into a sink that only counts, run the
 * same commands in alternating rounds; the difference in this process's CPU per command is the
 * adapter's cost (ImapFlow formatting its traffic for a logger included, the sink's own work not).
 */

export interface AdapterJob {
  port: number;
  user: string;
  password: string;
  /** Commands of each kind per round and client. */
  commands: number;
  rounds: number;
}

/** The clients compared: no logger, the adapter with its defaults, the adapter following FETCH rows too. */
export const ADAPTER_MODES = ['without', 'with', 'withFetchRows'] as const;
export type AdapterMode = (typeof ADAPTER_MODES)[number];

/**
 * CPU µs per command in this process for each client, entries made per command, and `replayed`: the
 * adapter's own code alone, fed the calls ImapFlow made for that command again and again (no network,
 * no ImapFlow: steady even on a busy machine), by command kind.
 */
export type AdapterReport = Record<string, Record<AdapterMode, number> & { entries: number; replayed: number }>;

const MESSAGES = 20;
const KINDS: Record<string, (client: ImapFlow) => Promise<unknown>> = {
  NOOP: (client) => client.noop(),
  STATUS: (client) => client.status('INBOX', { messages: true, uidNext: true }),
  SEARCH: (client) => client.search({ seen: false }),
  [`FETCH of ${MESSAGES} (FLAGS ENVELOPE)`]: async (client) => {
    for await (const _message of client.fetch(`1:${MESSAGES}`, { flags: true, envelope: true })) {
      // rows drained
    }
  },
};

async function connect(job: AdapterJob, logger: unknown): Promise<ImapFlow> {
  const client = new ImapFlow({ host: '127.0.0.1', port: job.port, secure: false, auth: { user: job.user, pass: job.password }, logger: logger as never, disableAutoIdle: true });
  client.on('error', () => {});
  await client.connect();
  await client.mailboxOpen('INBOX');
  return client;
}

async function run(job: AdapterJob): Promise<AdapterReport> {
  let entries = 0;
  const adapter = (options: Partial<ImapflowLoggerOptions>) =>
    imapflowLogger({ sink: { publish: () => void entries++ }, userId: 'bench-user', emailAccountId: 'bench@dovecot', ...options });
  const clients: Record<AdapterMode, ImapFlow> = {
    without: await connect(job, false),
    with: await connect(job, adapter({})),
    withFetchRows: await connect(job, adapter({ fetchResponses: true })),
  };
  const status = await clients.without.status('INBOX', { messages: true });
  for (let i = (status && status.messages) || 0; i < MESSAGES; i++) {
    await clients.without.append('INBOX', `From: a@example.com\r\nTo: b@example.com\r\nSubject: message ${i}\r\n\r\nbody ${i}\r\n`, ['\\Seen']);
  }
  // Warm-up, unmeasured: every client's path compiled by the JIT before any is timed.
  for (const command of Object.values(KINDS)) {
    for (let i = 0; i < job.commands; i++) await Promise.all(ADAPTER_MODES.map((mode) => command(clients[mode])));
  }
  const cpu = Object.fromEntries(ADAPTER_MODES.map((mode) => [mode, {} as Record<string, number>])) as Record<AdapterMode, Record<string, number>>;
  const entriesOf: Record<string, number> = {};
  for (let round = 0; round < job.rounds; round++) {
    for (const [kind, command] of Object.entries(KINDS)) {
      // A different client goes first each round, so drift on the machine falls on all alike.
      const order = ADAPTER_MODES.map((_, i) => ADAPTER_MODES[(i + round) % ADAPTER_MODES.length]!);
      for (const mode of order) {
        const before = entries;
        const start = process.cpuUsage();
        for (let i = 0; i < job.commands; i++) await command(clients[mode]);
        const used = process.cpuUsage(start);
        cpu[mode][kind] = (cpu[mode][kind] ?? 0) + used.user + used.system;
        if (mode === 'with') entriesOf[kind] = (entriesOf[kind] ?? 0) + entries - before;
      }
    }
  }
  await Promise.all(ADAPTER_MODES.map((mode) => clients[mode].logout()));
  const replayed = await replay(job);
  const total = job.commands * job.rounds;
  return Object.fromEntries(
    Object.keys(KINDS).map((kind) => [
      kind,
      { ...Object.fromEntries(ADAPTER_MODES.map((mode) => [mode, cpu[mode][kind]! / total])), entries: entriesOf[kind]! / total, replayed: replayed[kind]! },
    ]),
  ) as AdapterReport;
}

type Call = [level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal', entry: unknown];

/** Records the calls ImapFlow makes for one command of each kind, then times the adapter alone on them (defaults). */
async function replay(job: AdapterJob): Promise<Record<string, number>> {
  const calls: Call[] = [];
  const recorder = Object.fromEntries((['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const).map((level) => [level, (entry: unknown) => calls.push([level, entry])]));
  const client = await connect(job, recorder);
  const byKind: Record<string, Call[]> = {};
  for (const [kind, command] of Object.entries(KINDS)) {
    calls.length = 0;
    await command(client);
    byKind[kind] = [...calls];
  }
  await client.logout();
  const logger = imapflowLogger({ sink: { publish() {} }, userId: 'bench-user', emailAccountId: 'bench@dovecot' });
  const once = (recorded: Call[]) => {
    for (const [level, entry] of recorded) logger[level]?.(entry);
  };
  const times = job.commands * 10;
  // Every kind warmed up first, so the first one measured does not pay for the JIT.
  for (const recorded of Object.values(byKind)) for (let i = 0; i < times; i++) once(recorded);
  const out: Record<string, number> = {};
  for (const [kind, recorded] of Object.entries(byKind)) {
    const start = process.cpuUsage();
    for (let i = 0; i < times; i++) once(recorded);
    const used = process.cpuUsage(start);
    out[kind] = (used.user + used.system) / times;
  }
  return out;
}

process.on('message', (job: AdapterJob) => {
  run(job).then(
    (report) => process.send!({ ok: true, report }),
    (error: Error) => process.send!({ ok: false, message: error.stack ?? error.message }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
