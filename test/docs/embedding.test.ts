import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envNameOf, TUNABLES, type TunableName } from '../../src/core/tunables.js';
import { interfaceMembers, section, tableRows } from '../helpers/markdown.js';
import { ROOT } from '../helpers/process.js';

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

describe('docs/embedding.md', () => {
  const guide = read('docs/embedding.md');

  it('lists every limit of src/core/tunables.ts with its variable, default and range, and no other', () => {
    const rows = tableRows(section(guide, 'Limits')).slice(1);
    expect(rows.map((row) => row[0])).toEqual(Object.keys(TUNABLES).map((name) => `\`${name}\``));
    for (const [name, spec] of Object.entries(TUNABLES)) {
      const row = rows.find((r) => r[0] === `\`${name}\``)!;
      expect(row[1], name).toBe(envNameOf(name as TunableName));
      expect(row[2], name).toBe(String(spec.default));
      expect(row[3], name).toMatch(new RegExp(`^${spec.min}–${spec.max}\\b`));
      expect(row[4], `${name} has no meaning`).not.toBe('');
    }
  });

  it('documents every option of LivetailOptions', () => {
    const rows = tableRows(section(guide, 'Options'));
    for (const option of interfaceMembers(read('src/core/options.ts'), 'LivetailOptions')) {
      expect(rows.some((row) => row[0] === `\`${option}\``), `option ${option}`).toBe(true);
    }
  });

  it('documents every member of the Livetail interface', () => {
    const rows = tableRows(section(guide, 'The API of `lt`'));
    for (const member of interfaceMembers(read('src/core/create-livetail.ts'), 'Livetail')) {
      expect(rows.some((row) => row[0]!.startsWith(`\`${member}`) || row[0]!.includes(`, \`${member}`)), `lt.${member}`).toBe(true);
    }
  });

  it('names every tables livetail creates', () => {
    const source = read('src/store/migrations.ts');
    const tables = [...source.matchAll(/(?:createTable\(|TableName: )'(livetail_\w+)'/g)].map((m) => m[1]!);
    expect(tables.length).toBeGreaterThan(3);
    const text = section(guide, 'What livetail does to your database');
    for (const table of tables) expect(text, table).toContain(`\`${table}\``);
  });
});

describe('README', () => {
  const readme = read('README.md');

  it('begins with "Add livetail to your Express app": the snippet with the contract’s names', () => {
    expect(readme.split('\n').find((line) => line.startsWith('## '))).toBe('## Add livetail to your Express app');
    const text = section(readme, 'Add livetail to your Express app');
    for (const name of ["from 'livetail'", "from 'livetail/better-auth'", 'livetailPlugin()', 'createLivetail({ auth', "app.use('/api', lt.router())", 'lt.handleUpgrade(req, socket, head)', 'lt.logs.log(', 'lt.jobs.publish(', 'lt.close()']) {
      expect(text, name).toContain(name);
    }
    expect(text).toContain('docs/embedding.md');
  });
});
