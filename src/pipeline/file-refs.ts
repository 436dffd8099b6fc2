/**
 * References from a pipeline to project files that must exist before anything runs: today the
 * toolchain a target names (`params.toolchain`, or a `matrix.toolchain` value) must be a file
 * `toolchain/<name>.yaml`. Checked on every load (cheap: one directory listing), so a deleted
 * toolchain file is caught even when the pipeline text's check is remembered.
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import type { JsonObject } from '../task-api.js';
import { didYouMean } from './suggest.js';

export interface FileRefProblem {
  path: (string | number)[];
  message: string;
}

/** The project files these checks read (watch mode watches them: a new or changed toolchain counts). */
export const FILE_REF_GLOBS: readonly string[] = ['toolchain/*.yaml'];

/** Toolchain names defined under `<root>/toolchain/`, read once per load. */
function toolchainNames(root: string): string[] {
  try {
    return readdirSync(path.join(root, 'toolchain')).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort();
  } catch {
    return [];
  }
}

export function fileRefChecker(root: string): (target: string, paramsSchema: JsonObject, params: JsonObject, matrix?: Record<string, string[]>) => FileRefProblem[] {
  let names: string[] | undefined;
  const check = (name: unknown, at: (string | number)[]): FileRefProblem[] => {
    if (typeof name !== 'string') return [];
    names ??= toolchainNames(root);
    if (names.includes(name)) return [];
    const where = names.length ? `known: ${names.join(', ')}` : 'no toolchain/*.yaml in the project';
    // A prefix counts as close too: "x86" means "x86_64", "riscv" means "riscv64".
    const prefixed = names.filter((n) => n.startsWith(name) || name.startsWith(n));
    const hint = didYouMean(name, names) || (prefixed.length === 1 ? ` (did you mean "${prefixed[0]}"?)` : '');
    return [{ path: at, message: `unknown toolchain "${name}"${hint}; ${where}` }];
  };
  return (target, paramsSchema, params, matrix) => {
    const props = (paramsSchema.properties ?? {}) as JsonObject;
    if (!('toolchain' in props)) return [];
    const out = check(params.toolchain, ['targets', target, 'params', 'toolchain']);
    (matrix?.toolchain ?? []).forEach((v, i) => out.push(...check(v, ['targets', target, 'matrix', 'toolchain', i])));
    return out;
  };
}
