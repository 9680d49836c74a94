import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_VARIABLES, loadConfig } from '../../src/config.js';
import { CLOSE_REASONS, HTTP_ERRORS, PROTOCOL_ERRORS } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { CLIENT_MESSAGE_TYPES, CLOSE_CODES, serverMessageSchema } from '../../src/protocol/index.js';
import { ROOT } from '../helpers/process.js';

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** The rows of every Markdown table in `text`, as arrays of trimmed cells. */
function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[-| ]+\|$/.test(line))
    .map((line) => line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()));
}

const rowWith = (rows: string[][], first: string) => rows.find((row) => row[0] === first || row[1] === first);

describe('docs/protocol.md, the readable guide', () => {
  const guide = read('docs/protocol.md');
  const rows = tableRows(guide);

  it('has a section with an example for every client and server message', () => {
    const serverTypes = serverMessageSchema.options.map((o) => o.shape.type.value);
    for (const type of [...CLIENT_MESSAGE_TYPES, ...serverTypes]) {
      expect(guide, type).toMatch(new RegExp(`"type": "${type}"`));
      expect(guide, type).toContain(`\`${type}\``);
    }
  });

  it('lists every HTTP error of the catalog with its status', () => {
    for (const [code, { status }] of Object.entries(HTTP_ERRORS)) {
      const row = rows.find((r) => r[1] === `\`${code}\``);
      expect(row, `no row for ${code}`).toBeDefined();
      expect(row![0], code).toBe(String(status));
    }
  });

  it('lists every close code with the reason text the server sends', () => {
    for (const code of Object.values(CLOSE_CODES)) expect(rowWith(rows, String(code)), `close code ${code}`).toBeDefined();
    for (const { code, reason } of Object.values(CLOSE_REASONS)) expect(rowWith(rows, String(code))![1]).toBe(`\`${reason}\``);
  });

  it('lists every protocol error text, with the code sent beside it', () => {
    const samples: Record<keyof typeof PROTOCOL_ERRORS, string[]> = {
      INVALID_MESSAGE_FORMAT: [],
      UNKNOWN_MESSAGE_TYPE: ['X'],
      INVALID_CHANNEL: ['X'],
      MISSING_CHANNEL: ['subscribe'],
      RATE_LIMITED: [],
      INTERNAL: [],
    };
    for (const [code, args] of Object.entries(samples)) {
      const text = (PROTOCOL_ERRORS[code as keyof typeof PROTOCOL_ERRORS] as (...a: string[]) => string)(...args);
      expect(rows.some((r) => r[0] === `\`${text}\``), `${code}: ${text}`).toBe(true);
      expect(rows.find((r) => r[0] === `\`${text}\``)?.[2], `${code}: ${text}`).toBe(`\`${code}\``);
    }
    expect(Object.keys(samples).sort()).toEqual(Object.keys(PROTOCOL_ERRORS).sort());
  });

  it('documents resume (since, truncated), the channels query and initial-jobs', () => {
    for (const term of ['?since=', '"truncated": true', '"truncated": false', 'channels=', 'initial-jobs', 'hasMore']) expect(guide).toContain(term);
  });
});

describe('docs/operations.md', () => {
  const guide = read('docs/operations.md');
  const rows = tableRows(guide);

  it('describes every livetail metric with its type and labels', async () => {
    const metrics = createMetrics('docs-test');
    const own = (await metrics.registry.getMetricsAsJSON()).filter((m) => !/^livetail_(process|nodejs)_/.test(m.name));
    expect(own.length).toBeGreaterThan(20);
    for (const metric of own) {
      const row = rows.find((r) => r[0] === `\`${metric.name}\``);
      expect(row, `${metric.name} is not documented`).toBeDefined();
      expect(row![1], metric.name).toBe(metric.type);
      const labels = (metrics.registry.getSingleMetric(metric.name) as unknown as { labelNames: string[] }).labelNames;
      expect(row![2], metric.name).toBe(labels.map((l) => `\`${l}\``).join(', '));
    }
    expect(guide).toContain('livetail_process_cpu_seconds_total');
    expect(guide).toContain('livetail_nodejs_heap_size_used_bytes');
  });

  it('documents every configuration variable, and each default it states is the real one', () => {
    const unchanged = JSON.stringify(loadConfig({}));
    for (const variable of ENV_VARIABLES) {
      const row = rows.find((r) => r[0] === variable);
      expect(row, `${variable} is not documented`).toBeDefined();
      const stated = row![1]!;
      // A literal default (not "unset", not a description such as "<hostname>-<pid>"): setting it changes nothing.
      if (/^[\w.:/-]+$/.test(stated) && stated !== 'unset') {
        expect(JSON.stringify(loadConfig({ [variable]: stated })), `${variable}=${stated}`).toBe(unchanged);
      }
    }
  });

  it('explains health, metrics, logs, configuration and shutdown', () => {
    for (const heading of ['## Health and readiness', '## Metrics', '## Logs', '## Configuration', '## Shutdown', '## Exit codes']) {
      expect(guide).toContain(heading);
    }
  });
});

/** The property names of an interface declared in a source file (one property per line, as the code is written). */
function interfaceProperties(file: string, name: string): string[] {
  const source = read(file);
  const body = new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`).exec(source)?.[1];
  if (!body) throw new Error(`no interface ${name} in ${file}`);
  return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]!);
}

describe('docs/producers.md', () => {
  const guide = read('docs/producers.md');
  const cells = tableRows(guide).map((row) => row[0] ?? '');

  it.each([
    ['src/publisher/options.ts', 'PublisherOptions'],
    ['src/imapflow/imapflow-logger.ts', 'ImapflowLoggerOptions'],
  ])('documents every option of %s (%s) in a table row', (file, name) => {
    const options = interfaceProperties(file, name);
    expect(options.length).toBeGreaterThan(5);
    for (const option of options) expect(cells.some((cell) => cell.includes(`\`${option}\``)), option).toBe(true);
  });

  it('lists every publisher event and error code, and the IMAP → entry mapping of every field', () => {
    for (const event of ['sent', 'retry', 'dropped', 'error']) expect(cells, event).toContain(`\`${event}\``);
    for (const code of ['INVALID_ENTRY', 'ENTRY_TOO_LARGE', 'CLOSED', 'REFUSED', 'GAVE_UP']) expect(guide, code).toContain(`\`${code}\``);
    for (const field of ['userId', 'emailAccountId', 'command', 'level', 'data.raw', 'data.parsed', 'data.response', 'data.duration', 'data.error']) {
      expect(cells, field).toContain(`\`${field}\``);
    }
  });
});

describe('README.md', () => {
  it('lists every environment variable in its configuration table', () => {
    const rows = tableRows(read('README.md'));
    for (const name of ENV_VARIABLES) expect(rowWith(rows, name), `${name} is not in README's configuration table`).toBeDefined();
  });

  it('links the guides and the machine-readable specs', () => {
    const readme = read('README.md');
    for (const doc of ['docs/protocol.md', 'docs/operations.md', 'docs/producers.md', 'docs/sidecar.md', 'docs/asyncapi.yaml', 'docs/openapi.yaml']) {
      expect(readme).toContain(`](${doc})`);
      expect(fs.existsSync(path.join(ROOT, doc)), doc).toBe(true);
    }
  });
});
