import { describe, expect, it } from 'vitest';
import { countDeliveries } from '../bench/load/delivery-count.js';
import { PROFILES } from '../bench/lib/profiles.js';
import { renderReport } from '../bench/lib/report.js';
import { runBench } from '../bench/lib/run-bench.js';

/**
 * The benchmark harness itself, not a benchmark: every target starts in its own process, W1 runs for
 * about a second on each, the per-request rows, a reconnect storm of 20 clients, W6 and W7 (producers,
 * the ImapFlow adapter) briefly, the report renders. Nothing here asserts a speed (timing flakes on a
 * shared machine); livetail runs from dist/, which `npm test` builds first.
 */
describe('npm run bench (smoke profile)', () => {
  it('starts livetail, bare-ws and socket.io, delivers W1 on each with the same message bytes, runs the producer rows, and renders the tables', async () => {
    const lines: string[] = [];
    const results = await runBench({ profile: PROFILES.smoke, log: (line) => lines.push(line) });

    const fanout = results.levels[0]!.fanout!;
    for (const name of ['livetail', 'bare-ws', 'socket.io']) {
      const [window] = fanout[name]!;
      expect(window!.errors, `${name}: ${lines.join('\n')}`).toEqual([]);
      expect(window!.deliveries).toBeGreaterThan(0);
      expect(window!.cpu.server).toBeGreaterThan(0);
    }
    // The same log message on the wire: livetail's `log` and the baselines' copy of it, byte for byte in
    // length; Socket.IO wraps it in its event frame `42["log",...]`.
    const bytes = (name: string) => fanout[name]![0]!.messageBytes;
    expect(bytes('bare-ws')).toBe(bytes('livetail'));
    expect(bytes('socket.io')).toBe(bytes('livetail') + '42["log",]'.length);

    // Per request: livetail and bare Express both answered POSTs of one entry, and the CPU per POST was measured.
    const perRequest = results.perRequest!.batches['1']!;
    for (const name of ['livetail', 'bare-express']) {
      const [window] = perRequest[name]!;
      expect(window!.errors, `${name}: ${lines.join('\n')}`).toEqual([]);
      expect(window!.requests).toBeGreaterThan(0);
      expect(window!.serverMicrosPerRequest).toBeGreaterThan(0);
    }

    // The storm: every client of both came back after kill -9 and the restart, and livetail's SDK clients
    // delivered exactly what the store holds (the fill and what the producer got stored before the kill).
    const storm = results.storm!;
    for (const name of ['livetail', 'bare-ws']) {
      const [window] = storm.series[name]!;
      expect(window!.errors, `${name}: ${lines.join('\n')}`).toEqual([]);
      expect(window!.resumed).toBe(storm.clients);
      expect(window!.allResumedMs).toBeGreaterThan(window!.restartMs);
    }
    const [livetailStorm] = storm.series.livetail!;
    expect(livetailStorm!.counts).toMatchObject({ clients: storm.clients, lost: 0, doubled: 0, notStored: 0, outOfOrder: 0 });
    expect(livetailStorm!.stored).toBeGreaterThan(storm.users * storm.storedLogs);

    // W6: both producers delivered, without errors, and the publisher batched.
    const producer = results.producer!;
    for (const name of ['one POST per entry', 'publisher']) {
      const [throughput] = producer.throughput[name]!;
      expect(throughput!.errors, `${name}: ${lines.join('\n')}`).toEqual([]);
      expect(throughput!.entries).toBeGreaterThan(0);
      expect(producer.latency[name]![0]!.samples).toBeGreaterThan(0);
    }
    expect(producer.throughput.publisher![0]!.meanBatch).toBeGreaterThan(1);
    // W7 ran against Dovecot, or says why not.
    const adapter = results.adapter!;
    if ('kinds' in adapter) expect(Object.values(adapter.kinds).every((c) => c.entries === 1)).toBe(true);
    else expect(adapter.unavailable).toMatch(/Dovecot unavailable/);

    const report = renderReport(results, 'smoke');
    expect(report).toMatch(/^\| W6 entries\/s, closed loop \| [\d,]+ \| [\d,]+ \| [\d.]+× \|$/m);
    expect(report).toMatch(/^\| W6 livetail\/publisher latency p99, ms .*\| ≤ 20 ms \|/m);
    expect(report).toMatch('kinds' in adapter ? /^\| NOOP \| \d+ \| \d+ \| -?\d+ \| -?\d+ \| [\d.]+ \| 1\.00 \|$/m : /W7, the ImapFlow adapter's cost per command: not measured/);
    expect(report).toMatch(/^\| W1 deliveries\/s \(20 sockets\) \| [\d,]+ \| [\d,]+ \| [\d,]+ \| [\d.]+× \| [\d.]+× \|/m);
    expect(report).toMatch(/^\| Per request: server CPU µs per POST \/api\/logs of 1 entry .*\| [\d,]+ \| bare-express \| [\d,]+ \| [\d.]+× \| ≤ 1\.5 × bare-express \|/m);
    expect(report).toMatch(/^\| Reconnect storm: ms from kill -9 to all 20 clients resumed \| [\d,]+ \| [\d,]+ \|  \| [\d.]+× \| – \| ≤ 2 × bare-ws \|/m);
    expect(report).toMatch(/^\| Reconnect storm: logs lost, doubled, out of order or not stored .*\| 0 \|.*\| \*\*met\*\* \(0\) \|$/m);
    expect(report).toContain('## Conditions of the windows');
  }, 180_000);

  it('counts a storm client\'s deliveries against the store: lost, doubled, out of order, not stored', () => {
    const stored = new Map(['a', 'b', 'c', 'd'].map((id, i) => [id, i]));
    expect(countDeliveries(['a', 'b', 'c', 'd'], stored)).toEqual({ lost: 0, doubled: 0, notStored: 0, outOfOrder: 0 });
    expect(countDeliveries(['a', 'b', 'b', 'd', 'x'], stored)).toEqual({ lost: 1, doubled: 1, notStored: 1, outOfOrder: 0 });
    expect(countDeliveries(['a', 'c', 'b', 'd'], stored)).toEqual({ lost: 0, doubled: 0, notStored: 0, outOfOrder: 1 });
    expect(countDeliveries([], stored)).toEqual({ lost: 4, doubled: 0, notStored: 0, outOfOrder: 0 });
  });
});
