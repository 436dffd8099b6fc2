/**
 * The installed package's folder (the one holding asmgraph's package.json), found from this
 * module's own location, so that it is the same whether the code runs as tsc's output
 * (dist/src/…), from the single-file bundle (dist/bundle/…) or from the TypeScript sources.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`asmgraph: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const PACKAGE_ROOT = findRoot();
