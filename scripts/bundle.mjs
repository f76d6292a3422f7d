/**
 * Build step after `tsc`: bundles the library entry (dist/index.js as tsc emitted it, and every
 * module of ours it imports) into that one file, in place.
 *
 * Why: Node loads each ES module on its own (resolve, read, compile, link, evaluate), and the ~45
 * modules behind `import 'config-persistence'` were a large part of a cold start (bench/startup.mjs);
 * one file loads in a fraction of that. Packages stay external: they load from node_modules as
 * usual (the heavy ones only when used, src/core/lazy-deps.ts). The other files tsc wrote stay in dist/
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
  // Minified because a cold start compiles the whole file: in fresh processes (40 alternating runs
  // each), import + Configuration.open took 26.1 + 20.2 ms unminified, 24.1 + 19.8 ms with only
  // whitespace and syntax minified, 21.1 + 18.4 ms minified in full. The source map gives stack
  // traces their src/ positions back (`node --enable-source-maps`).
  minify: true,
  // Error classes name themselves after `new.target.name`, and functions keep their `name`: the
  // renaming must not change either.
  keepNames: true,
  sourcemap: true,
  logLevel: 'warning',
});
