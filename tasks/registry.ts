/**
 * The built-in task kinds, one module each in this folder. The engine never imports them: the
 * command line (`src/cli.ts`) hands this registry to the pipeline loader, which asks for exactly
 * the kinds the parsed pipeline names. Each is imported only then: the C++ kinds load the
 * toolchain and sandbox code, the model-facing kinds the OpenAI SDK, and start-up time is what a
 * no-op build mostly costs. `files` is always there (implicit glob inputs use it).
 *
 * Adding a kind: its file here, one line below, and `asmgraph schema > schema/pipeline.schema.json`.
 */
import type { KindRegistry, KindSource } from '../src/pipeline/load.js';
import type { AsmAnnotator } from '../src/serve/program.js';
import type { TaskKind } from '../src/task-api.js';
import { filesKind } from './files.js';

const eager: TaskKind[] = [filesKind];

const lazy: Record<string, () => Promise<TaskKind>> = {
  command: async () => (await import('./command.js')).commandKind,
  compile: async () => (await import('./compile.js')).compileKind,
  validate: async () => (await import('./validate.js')).validateKind,
  dataset: async () => (await import('./dataset.js')).datasetKind,
  generate: async () => (await import('./generate.js')).generateKind,
  describe: async () => (await import('./describe.js')).describeKind,
  inputs: async () => (await import('./inputs.js')).inputsKind,
  finetune: async () => (await import('./finetune.js')).finetuneKind,
  eval: async () => (await import('./eval.js')).evalKind,
  'eval-export': async () => (await import('./eval-export.js')).evalExportKind,
};

export const KIND_NAMES: readonly string[] = [...eager.map((k) => k.name), ...Object.keys(lazy)];

/** The loaded kinds; `all()` lists them in the order of KIND_NAMES. */
export type Registry = KindRegistry & { all(): TaskKind[] };

function registry(kinds: TaskKind[]): Registry {
  const map = new Map(kinds.map((k) => [k.name, k]));
  return {
    get: (name) => map.get(name),
    names: () => [...KIND_NAMES],
    all: () => KIND_NAMES.map((n) => map.get(n)).filter((k): k is TaskKind => !!k),
  };
}

/** The built-in kinds; `load` imports only the ones asked for (unknown names are left out). */
export const builtinKinds = {
  names: () => [...KIND_NAMES],
  async load(names: Iterable<string>): Promise<Registry> {
    const wanted = new Set(names);
    const named = Object.entries(lazy).filter(([name]) => wanted.has(name));
    return registry([...eager, ...(await Promise.all(named.map(([, load]) => load())))]);
  },
} satisfies KindSource;

/** Every built-in kind, loaded (the schema command, tests). */
export function allKinds(): Promise<Registry> {
  return builtinKinds.load(KIND_NAMES);
}

/**
 * For `asmgraph serve`'s line map: a compile target's compiler and flags, again with
 * -fverbose-asm. Its modules are imported on first use, like a kind's.
 */
export const asmAnnotator: AsmAnnotator = {
  async prepare({ projectRoot, params }) {
    const { compileFlags, toolchainFor } = await import('./lib/cxx-params.js');
    const { compileToAsm } = await import('./lib/gxx.js');
    const tc = await toolchainFor({ projectRoot, params });
    const flags = [...compileFlags(tc, params), '-fverbose-asm'];
    return {
      id: JSON.stringify([tc.cxx, tc.flags, flags]),
      commandLine: `${tc.cxx} -S ${[...tc.flags, ...flags].join(' ')}`,
      async compile(source, dir) {
        const r = await compileToAsm({ tc, source, flags, dir });
        return r.ok ? { ok: true, asm: r.asm } : { ok: false, stderr: r.stderr };
      },
    };
  },
};
