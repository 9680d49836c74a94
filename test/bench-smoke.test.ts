import { describe, expect, it } from 'vitest';
import { PROFILES } from '../bench/lib/profiles.js';
import { renderReport } from '../bench/lib/report.js';
import { runBench } from '../bench/lib/run-bench.js';

/**
 * The benchmark harness itself, not a benchmark: every target starts in its own process, W1 runs for
 * about a second on each, the report renders. Nothing here asserts a speed (timing flakes on a shared
 * machine); livetail runs from dist/, which `npm test` builds first.
 */
describe('npm run bench (smoke profile)', () => {
  it('starts livetail, bare-ws and socket.io, delivers W1 on each with the same message bytes, and renders the table', async () => {
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

    const report = renderReport(results, 'smoke');
    expect(report).toMatch(/^\| W1 deliveries\/s \(20 sockets\) \| [\d,]+ \| [\d,]+ \| [\d,]+ \| [\d.]+× \| [\d.]+× \|/m);
    expect(report).toContain('## Conditions of the windows');
  }, 180_000);
});
