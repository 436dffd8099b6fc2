/**
 * The built-in task kinds, one module each in tasks/. The model-facing kinds load the OpenAI
 * SDK, which costs more start-up time than the rest of the CLI: they are imported only when a
 * pipeline uses them (a no-op build is the run users see most).
 */
import type { TaskKind } from './task-api.js';
import type { KindRegistry } from './pipeline/load.js';
import { filesKind } from '../tasks/files.js';
import { commandKind } from '../tasks/command.js';
import { compileKind } from '../tasks/compile.js';
import { validateKind } from '../tasks/validate.js';
import { datasetKind } from '../tasks/dataset.js';

const eager: TaskKind[] = [filesKind, commandKind, compileKind, validateKind, datasetKind];

const lazy: Record<string, () => Promise<TaskKind>> = {
  generate: async () => (await import('../tasks/generate.js')).generateKind,
  describe: async () => (await import('../tasks/describe.js')).describeKind,
  finetune: async () => (await import('../tasks/finetune.js')).finetuneKind,
  eval: async () => (await import('../tasks/eval.js')).evalKind,
};

export const KIND_NAMES: readonly string[] = [...eager.map((k) => k.name), ...Object.keys(lazy)];

export type Registry = KindRegistry & { all(): TaskKind[] };

function registry(kinds: TaskKind[]): Registry {
  const map = new Map(kinds.map((k) => [k.name, k]));
  return {
    get: (name) => map.get(name),
    names: () => [...KIND_NAMES],
    all: () => KIND_NAMES.map((n) => map.get(n)).filter((k): k is TaskKind => !!k),
  };
}

/** The kinds a pipeline text names (the lazy ones are imported only if named). */
export async function kindsFor(pipelineText: string): Promise<Registry> {
  const kinds = [...eager];
  for (const [name, load] of Object.entries(lazy)) {
    if (new RegExp(`\\bkind\\s*:\\s*["']?${name}\\b`).test(pipelineText)) kinds.push(await load());
  }
  return registry(kinds);
}

/** Every kind (the schema command, tests). */
export async function allKinds(): Promise<Registry> {
  return registry([...eager, ...(await Promise.all(Object.values(lazy).map((l) => l())))]);
}
