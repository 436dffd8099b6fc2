#!/usr/bin/env node
/**
 * Bundles tsc's output of the CLI (dist/src/cli.js) into dist/bundle/: one file for what every
 * command loads, plus a chunk per lazily imported part (kinds a pipeline names, serve, setup),
 * so that start-up reads a handful of files instead of ~75 modules. Packages stay in
 * node_modules (imported as they are). The token helper (dist/tasks/lib/token-worker.js) is a
 * process of its own and is not bundled. Run by `npm run build` after tsc.
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const outdir = path.join(root, 'dist', 'bundle');

export async function bundle() {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: { cli: path.join(root, 'dist', 'src', 'cli.js') },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await bundle();
