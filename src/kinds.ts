/**
 * The built-in task kinds, one module each in tasks/. Each is imported only when a pipeline names
 * it: the C++ kinds load the toolchain and sandbox code, the model-facing kinds the OpenAI SDK,
 * and start-up time is what a no-op build mostly costs. `files` is always there (implicit glob
 * inputs use it).
 */
import type { TaskKind } from './task-api.js';
import type { KindRegistry } from './pipeline/load.js';
import { filesKind } from '../tasks/files.js';

const eager: TaskKind[] = [filesKind];

const lazy: Record<string, () => Promise<TaskKind>> = {
  command: async () => (await import('../tasks/command.js')).commandKind,
  compile: async () => (await import('../tasks/compile.js')).compileKind,
  validate: async () => (await import('../tasks/validate.js')).validateKind,
  dataset: async () => (await import('../tasks/dataset.js')).datasetKind,
  generate: async () => (await import('../tasks/generate.js')).generateKind,
  describe: async () => (await import('../tasks/describe.js')).describeKind,
  inputs: async () => (await import('../tasks/inputs.js')).inputsKind,
  finetune: async () => (await import('../tasks/finetune.js')).finetuneKind,
  eval: async () => (await import('../tasks/eval.js')).evalKind,
  'eval-export': async () => (await import('../tasks/eval-export.js')).evalExportKind,
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
  const named = Object.entries(lazy).filter(([name]) => new RegExp(`\\bkind\\s*:\\s*["']?${name}\\b`).test(pipelineText));
  return registry([...eager, ...(await Promise.all(named.map(([, load]) => load())))]);
}

/** Every kind (the schema command, tests). */
export async function allKinds(): Promise<Registry> {
  return registry([...eager, ...(await Promise.all(Object.values(lazy).map((l) => l())))]);
}
