/**
 * Build step after `tsc`: bundles the library entry (dist/index.js as tsc emitted it, and every
 * module of ours it imports) into that one file, in place.
 *
 * Why: Node loads each ES module on its own (resolve, read, compile, link, evaluate), and the ~45
 * modules behind `import 'config-persistence'` were a large part of a cold start (bench/startup.mjs);
 * one file loads in a fraction of that. Packages stay external: they load from node_modules as
 * usual (the heavy ones only when used, src/lazy-deps.ts). The other files tsc wrote stay in dist/
 * for the CLI (dist/cli.js, a separate process) and the type declarations. The source map chains
 * back to src/ through tsc's maps.
 */
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/index.js'],
  outfile: 'dist/index.js',
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  // Error classes name themselves after `new.target.name`: renaming on a clash must not change it.
  keepNames: true,
  sourcemap: true,
  logLevel: 'warning',
});
