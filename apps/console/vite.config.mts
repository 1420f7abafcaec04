import { defineConfig } from 'vite';

/** Paths the console calls on its node; `npm run console:dev` forwards them to a local one. */
const NODE_API = ['/admin', '/chain', '/schedule', '/missed-slots', '/blocks', '/receivers', '/meters'];

// Run from the repository: `vite build apps/console` makes this folder the root.
export default defineConfig({
  // The node serves the console at /console (apps/node/src/console/console-assets.controller.ts).
  base: '/console/',
  build: {
    outDir: '../../dist/console',
    emptyOutDir: true,
    target: 'es2022',
    // One small app: a single chunk loads fastest.
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: Object.fromEntries(NODE_API.map((path) => [path, 'http://127.0.0.1:3000'])),
  },
});
