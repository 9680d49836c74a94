import { createPublisher } from '../../src/publisher/index.js';
import { CpuMeter } from './cpu-meter.js';
import { benchLog } from './poster.js';
import type { Stage } from './stage.js';
import { percentiles } from './stats.js';
import { BENCH_INGEST_TOKEN } from './targets.js';
import { type WindowResult, settle } from './windows.js';

/** W6: livetail/publisher's batches, closed loop: entries taken per second and what each costs. */
export interface PublisherWindow extends WindowResult {
  entries: number;
  entriesPerSecond: number;
  serverMicrosPerEntry: number;
  /** CPU µs per entry in the publishing process (this harness): building, serializing, batching, the HTTP client. */
  appMicrosPerEntry: number;
  meanBatch: number;
}

/** W6 at a fixed rate: from publish() (or the POST's start) to the 201 that took the entry. */
export interface ProducerLatencyWindow extends WindowResult {
  p50: number;
  p99: number;
  p999: number;
  samples: number;
  serverMicrosPerEntry: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function randomUser(userIds: readonly string[]): string {
  return userIds[Math.floor(Math.random() * userIds.length)]!;
}

/**
 * Publishes as fast as one publisher with its default options delivers, without ever dropping: three
 * batches' worth first (one in flight, two waiting), then as many more as each 201 took, so every POST
 * carries a full batch and the queue never grows.
 */
export async function publisherWindow(stage: Stage, name: string, o: { warmupMs: number; windowMs: number }): Promise<PublisherWindow> {
  const { target } = stage.entry(name);
  await settle(target.pid);
  const publisher = createPublisher({ url: target.url, token: BENCH_INGEST_TOKEN });
  const problems = new Problems();
  let sent = 0;
  let batches = 0;
  let running = true;
  const refill = (count: number) => {
    for (let i = 0; i < count; i++) publisher.publish(benchLog(randomUser(stage.userIds)));
  };
  publisher.on('sent', (s) => {
    sent += s.count;
    batches++;
    if (running) refill(s.count);
  });
  problems.watch(publisher);
  const meter = new CpuMeter(await stage.roles(name));
  const before = process.cpuUsage();
  refill(300);
  await sleep(o.warmupMs);
  meter.begin();
  const app0 = process.cpuUsage(before);
  const [sent0, batches0] = [sent, batches];
  await sleep(o.windowMs);
  const entries = sent - sent0;
  const cpu = meter.end();
  const app = process.cpuUsage(before);
  running = false;
  await publisher.close();
  const appMicros = app.user + app.system - (app0.user + app0.system);
  return {
    cpu,
    errors: problems.list(),
    entries,
    entriesPerSecond: entries / cpu.seconds,
    serverMicrosPerEntry: (cpu.serverSeconds * 1e6) / entries,
    appMicrosPerEntry: appMicros / entries,
    meanBatch: entries / Math.max(1, batches - batches0),
  };
}

/**
 * `entriesPerSecond` entries published one by one on a steady clock (open loop), with the publisher's
 * defaults: the latency from each publish() to the 201 of the batch that carried it — the linger, the
 * wait behind the POST in flight, the POST itself.
 */
export async function publisherLatencyWindow(stage: Stage, name: string, o: { warmupMs: number; windowMs: number; entriesPerSecond: number }): Promise<ProducerLatencyWindow> {
  const { target } = stage.entry(name);
  await settle(target.pid);
  const publisher = createPublisher({ url: target.url, token: BENCH_INGEST_TOKEN });
  const problems = new Problems();
  problems.watch(publisher);
  // Delivery is in publish order, so each 201 settles the oldest stamps.
  const stamps: number[] = [];
  let head = 0;
  const recorder = new Recorder();
  publisher.on('sent', (s) => {
    const now = performance.now();
    for (let i = 0; i < s.count; i++) recorder.add(stamps[head++]!, now);
  });
  const clock = openLoop(o.entriesPerSecond, () => {
    stamps.push(performance.now());
    publisher.publish(benchLog(randomUser(stage.userIds)));
  });
  const measured = await recorder.measure(stage, name, o, clock);
  await publisher.close();
  return { ...measured, errors: [...measured.errors, ...problems.list()] };
}

/** The same rate as one POST per entry, as producers do by hand: the latency from each POST's start to its 201. */
export async function directLatencyWindow(stage: Stage, name: string, o: { warmupMs: number; windowMs: number; entriesPerSecond: number }): Promise<ProducerLatencyWindow> {
  const { target, poster } = stage.entry(name);
  await settle(target.pid);
  const recorder = new Recorder();
  const problems = new Problems();
  let inFlight = 0;
  const clock = openLoop(o.entriesPerSecond, () => {
    if (inFlight >= 64) return problems.add('an entry not sent on time (64 POSTs outstanding)');
    inFlight++;
    const started = performance.now();
    poster
      .post(JSON.stringify(benchLog(randomUser(stage.userIds))))
      .then(
        (status) => (status === 201 ? recorder.add(started, performance.now()) : problems.add(`HTTP ${status}`)),
        (error: Error) => problems.add(error.message),
      )
      .finally(() => inFlight--);
  });
  const measured = await recorder.measure(stage, name, o, clock);
  await new Promise((resolve) => setTimeout(resolve, 200)); // the last answers
  return { ...measured, errors: [...measured.errors, ...problems.list()] };
}

/** Calls `send` `perSecond` times a second on a steady schedule (several per timer tick when the timer is late). */
function openLoop(perSecond: number, send: () => void): { stop(): void } {
  const interval = 1000 / perSecond;
  const t0 = performance.now();
  let k = 0;
  let timer: NodeJS.Timeout | undefined;
  let running = true;
  const tick = () => {
    if (!running) return;
    for (const now = performance.now(); t0 + k * interval <= now; k++) send();
    timer = setTimeout(tick, Math.max(0, t0 + k * interval - performance.now()));
  };
  tick();
  return {
    stop: () => {
      running = false;
      clearTimeout(timer);
    },
  };
}

/** Latency samples of the measurement window only, and the server's CPU over it. */
class Recorder {
  private recording = false;
  private samples: number[] = [];
  private acked = 0;

  add(start: number, end: number): void {
    if (!this.recording) return;
    this.samples.push(end - start);
    this.acked++;
  }

  async measure(stage: Stage, name: string, o: { warmupMs: number; windowMs: number }, clock: { stop(): void }): Promise<Omit<ProducerLatencyWindow, 'errors'> & { errors: string[] }> {
    const meter = new CpuMeter(await stage.roles(name));
    await sleep(o.warmupMs);
    this.recording = true;
    meter.begin();
    await sleep(o.windowMs);
    const cpu = meter.end();
    this.recording = false;
    clock.stop();
    const [p50, p99, p999] = percentiles(Float64Array.from(this.samples), [50, 99, 99.9]) as [number, number, number];
    return { cpu, errors: [], p50, p99, p999, samples: this.samples.length, serverMicrosPerEntry: (cpu.serverSeconds * 1e6) / this.acked };
  }
}

/** What went wrong in a window, counted by kind. */
class Problems {
  private readonly counts = new Map<string, number>();

  add(problem: string): void {
    this.counts.set(problem, (this.counts.get(problem) ?? 0) + 1);
  }

  watch(publisher: ReturnType<typeof createPublisher>): void {
    publisher.on('error', (e) => this.add(`${e.count} entries failed (${e.code} ${e.status ?? e.details.reason ?? ''})`));
    publisher.on('dropped', (d) => this.add(`${d.count} entries dropped (${d.reason})`));
  }

  list(): string[] {
    return [...this.counts].map(([problem, n]) => (n > 1 ? `${problem} ×${n}` : problem));
  }
}
