import { describe, expect, it } from 'vitest';
import { PROFILES } from '../bench/lib/profiles.js';
import { renderReport } from '../bench/lib/report.js';
import { runBench } from '../bench/lib/run-bench.js';

/**
 * The benchmark harness itself, not a benchmark: every target starts in its own process, W1 runs for
 * about a second on each, W6 and W7 (producers, the ImapFlow adapter) briefly, the report renders. Nothing here asserts a speed (timing flakes on a shared
 * machine); livetail runs from dist/, which `npm test` builds first.
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
    expect(report).toContain('## Conditions of the windows');
  }, 180_000);
});
