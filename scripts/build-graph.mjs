#!/usr/bin/env node
/**
 * `npm run build-graph`: runs the bundled CLI (dist/bundle/cli.js, scripts/bundle.mjs), compiling
 * and bundling first when any TypeScript source (src/, tasks/, bench/, tsconfig.json,
 * package.json) is newer than the bundle, so a stale dist/ never runs. Checking costs a few
 * milliseconds of stat calls.
 */
import { readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, 'dist', 'bundle', 'cli.js');

function newest(dir) {
  let t = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (/\.(ts|json)$/.test(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

const built = statSync(cli, { throwIfNoEntry: false })?.mtimeMs ?? 0;
const sources = Math.max(
  ...['src', 'tasks', 'bench'].map((d) => newest(path.join(root, d))),
  ...['tsconfig.json', 'package.json'].map((f) => statSync(path.join(root, f), { throwIfNoEntry: false })?.mtimeMs ?? 0),
);
if (sources > built) {
  process.stderr.write(built ? 'asmgraph: sources changed since the last compile; compiling (tsc) and bundling…\n' : 'asmgraph: compiling (tsc) and bundling…\n');
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write('asmgraph: the TypeScript compile failed (above); not running a stale dist/\n');
    process.exit(2);
  }
  const { bundle } = await import('./bundle.mjs');
  await bundle();
}
await import(pathToFileURL(cli).href);
