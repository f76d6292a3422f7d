/**
 * The build: `tsc` writes only the type declarations (`npm run build`), this script writes all the
 * JavaScript with ONE esbuild configuration over the three entries — the library
 * (`dist/index.js`), the storage subpath (`dist/storage/index.js`) and the command line
 * (`dist/cli.js`).
 *
 * Why one configuration with code splitting: the package must carry each line of code once. The
 * entries share most of the library (the CLI drives it), and splitting puts what two entries use
 * into a chunk under `dist/chunks/` both import, instead of a copy in each bundle (wave one shipped
 * tsc's module tree *and* a bundle: 556 kB packed). One file per entry also keeps a cold start fast:
 * Node loads each ES module on its own (resolve, read, compile, link, evaluate), and the ~45 modules
 * behind `import 'config-persistence'` were a large part of it (bench/startup.mjs).
 *
 * Packages stay external: they load from node_modules as usual (yaml, ajv and jsonc-parser only
 * when used, src/core/lazy-deps.ts). The output is ESM without top-level await in the library
 * entries, so CommonJS applications load it through `require()` (Node >= 20.19, see package.json
 * `exports`).
 */
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Old outputs must not linger: a stale module from a previous layout would ship twice.
for (const dir of ['dist/chunks']) rmSync(dir, { recursive: true, force: true });

const page = await build({
  entryPoints: { app: 'src/admin/page/main.ts', 'app-style': 'src/admin/page/app.css' },
  outdir: 'dist/admin-page',
  write: false,
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: ['chrome111', 'firefox115', 'safari16'],
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const pageOutput = (ext) => page.outputFiles.find((f) => f.path.endsWith(ext)).text;
const pageAssets = { js: pageOutput('.js'), css: pageOutput('.css') };

await build({
  plugins: [inlinePage(pageAssets)],
  entryPoints: { index: 'src/index.ts', 'storage/index': 'src/storage/index.ts', etcd: 'src/storage/etcd/index.ts', admin: 'src/admin/index.ts', cli: 'src/cli.ts' },
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  // Minified because a cold start compiles the whole file: in fresh processes (40 alternating runs
  // each), import + Configuration.open took 26.1 + 20.2 ms unminified, 24.1 + 19.8 ms with only
  // whitespace and syntax minified, 21.1 + 18.4 ms minified in full.
  minify: true,
  // Error classes name themselves after `new.target.name`, and functions keep their `name`: the
  // renaming must not change either.
  keepNames: true,
  // Maps give stack traces their src/*.ts positions back (`node --enable-source-maps`, or the CLI's
  // `--debug`). Without the sources' text: the map points at src/, it does not ship the code again.
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
});

/** Replaces src/admin/page-bundle.ts with the built page. */
function inlinePage(assets) {
  return {
    name: 'inline-admin-page',
    setup(b) {
      b.onLoad({ filter: /[\\/]src[\\/]admin[\\/]page-bundle\.ts$/ }, () => ({ contents: `export const PAGE = ${JSON.stringify(assets)};`, loader: 'js' }));
    },
  };
}
