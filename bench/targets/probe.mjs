/**
 * Preloaded into every benchmark target, livetail included (`node --expose-gc --import probe.mjs ...`),
 * so the harness can read a server's memory after a full garbage collection without the server's own
 * code knowing about the benchmark. It also ends the target when the harness goes away (the IPC channel
 * closes), so no server outlives a run, even one that crashed.
 *
 * Plain JavaScript on purpose: livetail runs from dist/ exactly as users run it, with no TypeScript loader.
 */
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';

process.on('message', (message) => {
  if (message === null || typeof message !== 'object') return;
  if (message.type === 'bench:heap-snapshot') {
    // For looking into what a socket costs (not used by the run itself): a snapshot file to open in DevTools.
    process.send?.({ type: 'bench:heap-snapshot', id: message.id, file: writeHeapSnapshot(message.file) });
    return;
  }
  if (message.type !== 'bench:memory') return;
  // Twice: the first pass can leave objects that only die once their finalizers ran.
  globalThis.gc?.();
  globalThis.gc?.();
  const { rss, heapUsed, external } = process.memoryUsage();
  // Compiled code lives in the heap too, but it is the JIT's output for the process, not a socket's cost:
  // it keeps growing for a while as code gets optimized, which would be misread as memory per socket.
  const code = getHeapSpaceStatistics()
    .filter((space) => space.space_name.startsWith('code'))
    .reduce((sum, space) => sum + space.space_used_size, 0);
  process.send?.({ type: 'bench:memory', id: message.id, rss, heapUsed, objects: heapUsed - code, external, gc: typeof globalThis.gc === 'function' });
});

process.on('disconnect', () => {
  process.kill(process.pid, 'SIGTERM');
  setTimeout(() => process.exit(1), 5000).unref();
});

// The channel must not keep a target alive by itself; its server does.
process.channel?.unref();
