/** Finding and loading the project: pipeline.yaml, its kinds, its store. */
import * as os from 'node:os';
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { projectFolders } from './folders.js';
import { type KindSource, loadPipeline } from './pipeline/load.js';
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
    if (up === dir) {
      throw new UsageError(`no pipeline.yaml in ${process.cwd()} or any folder above it; run asmgraph inside a project, or name the file with -f path/to/pipeline.yaml`);
    }
    dir = up;
  }
}

/** The CLI's commands, for "did you mean" when a target name looks like one. */
export const COMMANDS = ['build', 'graph', 'status', 'show', 'why', 'clean', 'cache', 'schema'];

/**
 * Loads the pipeline with the kinds `kinds` offers (the command line hands over tasks/registry.ts);
 * `remember` lets a real build cache the check of its text (see loadPipeline).
 */
export async function openPipeline(kinds: KindSource, file?: string, opts: { remember?: boolean } = {}): Promise<Pipeline> {
  return loadPipeline(findPipelineFile(file), kinds, os.availableParallelism(), { remember: !!opts.remember });
}

export function storeOf(p: Pipeline): Store {
  return new Store(projectFolders(p.root).cache);
}

export function checkTargets(p: Pipeline, names: string[]): void {
  for (const n of names) {
    if (!p.targets.has(n)) {
      const target = didYouMean(n, p.targets.keys());
      const command = target ? '' : didYouMean(n, COMMANDS).replace(/^ \(did you mean "(.*)"\?\)$/, ' (did you mean the command "$1"?)');
      throw new UsageError(`unknown target "${n}"${target || command}; targets: ${[...p.targets.keys()].join(', ')}`);
    }
  }
}
