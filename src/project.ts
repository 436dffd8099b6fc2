/** Finding and loading the project: pipeline.yaml, its kinds, its store. */
import * as os from 'node:os';
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { allKinds, kindsFor } from './kinds.js';
import { readFile } from 'node:fs/promises';
import { loadPipeline } from './pipeline/load.js';
import type { Pipeline } from './pipeline/model.js';
import { PipelineError, UsageError } from './pipeline/diagnostics.js';
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

/** Loads the pipeline; `remember` lets a real build cache the check of its text (see loadPipeline). */
export async function openPipeline(file?: string, opts: { remember?: boolean } = {}): Promise<Pipeline> {
  const f = findPipelineFile(file);
  const text = await readFile(f, 'utf8').catch(() => '');
  try {
    return await loadPipeline(f, await kindsFor(text), os.availableParallelism(), { remember: !!opts.remember });
  } catch (err) {
    // kindsFor reads kind names off the text with a pattern; YAML it does not foresee (a block
    // scalar, an alias) must still find the kind, so an unknown kind is checked against all.
    if (!(err instanceof PipelineError) || !err.diagnostics.some((d) => d.message.startsWith('unknown task kind'))) throw err;
    return loadPipeline(f, await allKinds(), os.availableParallelism(), { remember: !!opts.remember });
  }
}

export function storeOf(p: Pipeline): Store {
  return new Store(path.join(p.root, 'cache'));
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
