#!/usr/bin/env node
// The `livetail` command (package.json "bin"): runs the compiled CLI from dist/cli.
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
  process.stderr.write('livetail is not built yet: run "npm install" (or "npm run build") in the livetail directory\n');
  process.exit(1);
}
const code = await cli.main(process.argv.slice(2));
// Exit explicitly once stdout is flushed: a closed client must not keep the process alive.
process.stdout.write('', () => process.exit(code));
