/** The built-in task kinds, one module each in tasks/. */
import type { TaskKind } from './task-api.js';
import type { KindRegistry } from './pipeline/load.js';
import { filesKind } from '../tasks/files.js';
import { commandKind } from '../tasks/command.js';
import { generateKind } from '../tasks/generate.js';
import { describeKind } from '../tasks/describe.js';
import { finetuneKind } from '../tasks/finetune.js';
import { compileKind } from '../tasks/compile.js';
import { validateKind } from '../tasks/validate.js';
import { datasetKind } from '../tasks/dataset.js';
import { evalKind } from '../tasks/eval.js';

const builtins: TaskKind[] = [filesKind, commandKind, compileKind, validateKind, datasetKind, generateKind, describeKind, finetuneKind, evalKind];

export function registerKind(kind: TaskKind): void {
  builtins.push(kind);
}

export function defaultKinds(): KindRegistry & { all(): TaskKind[] } {
  const map = new Map(builtins.map((k) => [k.name, k]));
  return {
    get: (name) => map.get(name),
    names: () => [...map.keys()],
    all: () => [...map.values()],
  };
}
