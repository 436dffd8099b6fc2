/** The built-in task kinds, one module each in tasks/. */
import type { TaskKind } from './task-api.js';
import type { KindRegistry } from './pipeline/load.js';
import { filesKind } from '../tasks/files.js';
import { commandKind } from '../tasks/command.js';

const builtins: TaskKind[] = [filesKind, commandKind];

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
