import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The web console: plain TypeScript modules in web/, bundled into dist/web, which the Express app
 * serves at /. Everything is bundled (no CDN) and no inline script is emitted, so the page works
 * under helmet's CSP (script-src 'self').
 */
export default defineConfig({
  root: path.join(here, 'web'),
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: path.join(here, 'dist', 'web'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // One small app: a single script and a single stylesheet, nothing inlined as data: URLs.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
