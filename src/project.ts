/** Finding and loading the project: pipeline.yaml, its kinds, its store. */
import * as os from 'node:os';
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { kindsFor } from './kinds.js';
import { readFile } from 'node:fs/promises';
import { loadPipeline } from './pipeline/load.js';
import type { Pipeline } from './pipeline/model.js';
import { UsageError } from './pipeline/diagnostics.js';
import { didYouMean } from './pipeline/suggest.js';
import { Store } from './store/index.js';

export function findPipelineFile(explicit?: string): string {
  if (explicit) return path.resolve(explicit);
  let dir = process.cwd();
  for (;;) {
    const f = path.join(dir, 'pipeline.yaml');
    if (existsSync(f)) return f;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve('pipeline.yaml');
    dir = up;
  }
}

export async function openPipeline(file?: string): Promise<Pipeline> {
  const f = findPipelineFile(file);
  const text = await readFile(f, 'utf8').catch(() => '');
  return loadPipeline(f, await kindsFor(text), os.availableParallelism());
}

export function storeOf(p: Pipeline): Store {
  return new Store(path.join(p.root, 'cache'));
}

export function checkTargets(p: Pipeline, names: string[]): void {
  for (const n of names) {
    if (!p.targets.has(n)) {
      throw new UsageError(`unknown target "${n}"${didYouMean(n, p.targets.keys())}; targets: ${[...p.targets.keys()].join(', ')}`);
    }
  }
}
