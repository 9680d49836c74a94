import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, killAll } from './lib/children.js';
import { PROFILES, type Profile } from './lib/profiles.js';
import { renderReport } from './lib/report.js';
import type { Results } from './lib/results.js';
import { runBench } from './lib/run-bench.js';

/**
 * `npm run bench [-- --quick] [--out file] [--no-build] [--cpu-prof dir] [--render saved.json]`: builds livetail when dist/
 * is older than src/, runs every workload against livetail, bare ws and Socket.IO (and the references:
 * bare Express per request, raw better-sqlite3 for W5), W3 at 50,000 sockets and the reconnect storm,
 * prints the markdown report and writes it (bench/results/latest.md for a full run, quick.md for
 * --quick, every row at a small size) with the raw figures beside it as JSON.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      render: { type: 'string' },
      only: { type: 'string' },
      main: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: npm run bench [-- --quick] [--out bench/results/x.md] [--no-build] [--cpu-prof <dir>] [--render results.json]
                 [--only ${STAGES.join(',')}] [--main other-checkout/dist/main.js]
  --only   run these stages of the profile and no others (an A/B check of one figure; the report shows what ran)
  --main   the livetail build to measure (default dist/main.js): run twice, alternating builds, for a before/after
`);
    return;
  }
  if (values.render) {
    // Renders a saved run again (after a change to the report's text), without measuring anything.
    const saved = JSON.parse(fs.readFileSync(values.render, 'utf8')) as Results;
    const report = renderReport(saved, saved.profile === 'quick' ? 'npm run bench -- --quick' : 'npm run bench');
    process.stdout.write(`${report}\n`);
    fs.writeFileSync(path.resolve(values.render).replace(/\.json$/, '.md'), `${report}\n`);
    return;
  }
  const profile: Profile = onlyStages(values.quick ? PROFILES.quick : PROFILES.full, values.only);
  if (values.main) process.env.LIVETAIL_BENCH_MAIN = path.resolve(values.main);
  // A partial run never overwrites the record (latest.md) unless told to with --out.
  const defaultName = values.only ? 'partial.md' : values.quick ? 'quick.md' : 'latest.md';
  const out = path.resolve(values.out ?? path.join(ROOT, 'bench', 'results', defaultName));
  if (!values['no-build']) buildIfStale();
  const cpuProfDir = values['cpu-prof'] ? path.resolve(values['cpu-prof']) : undefined;

  const results = await runBench({ profile, cpuProfDir, log: (line) => process.stderr.write(`${line}\n`) });
  const report = renderReport(results, values.quick ? 'npm run bench -- --quick' : 'npm run bench');
  process.stdout.write(`${report}\n`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${report}\n`);
  fs.writeFileSync(out.replace(/\.md$/, '.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stderr.write(`written to ${path.relative(process.cwd(), out)} (and .json) in ${Math.round(results.seconds)} s\n`);
}

/** The stages --only can name: the socket levels (W1, W2, W3 at 1k–10k) and each optional stage of a profile. */
const STAGES = ['levels', 'smallBatchLatency', 'idleScale', 'perRequest', 'connect', 'ingest', 'storm', 'producer', 'adapter', 'deflate'] as const;
type Stage = (typeof STAGES)[number];

/** The profile with only the named stages (all of them when `only` is undefined). */
function onlyStages(profile: Profile, only: string | undefined): Profile {
  if (only === undefined) return profile;
  const wanted = new Set(only.split(',').map((s) => s.trim()).filter(Boolean));
  const unknown = [...wanted].filter((s) => !(STAGES as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`--only: unknown stage ${unknown.join(', ')} (stages: ${STAGES.join(', ')})`);
  const keep = (s: Stage) => wanted.has(s);
  const trimmed: Profile = { ...profile };
  for (const stage of STAGES) if (stage !== 'levels' && !keep(stage)) delete trimmed[stage];
  // smallBatchLatency runs inside the first level: keep that level's sockets, without its W1 and W2.
  if (!keep('levels')) trimmed.levels = keep('smallBatchLatency') ? profile.levels.slice(0, 1).map((l) => ({ sockets: l.sockets })) : [];
  return trimmed;
}

/** Runs `npm run build` when any file under src/ is newer than dist/main.js: livetail runs from dist/ as users run it. */
function buildIfStale(): void {
  const built = fs.statSync(path.join(ROOT, 'dist', 'main.js'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const newest = newestMtime(path.join(ROOT, 'src'));
  if (newest <= built) return;
  process.stderr.write('dist/ is older than src/: npm run build\n');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  killAll();
  process.exit(1);
});
