/**
 * The C++ parameters every kind that builds a program shares (compile, validate, inputs, eval):
 * the toolchain, the optimisation level, extra flags and cleaning, and what follows from them —
 * the g++ flags, the toolchain loaded from `toolchain/`, the identity of a `g++ -S` output, the
 * precompiled header. They must agree between compile and validate for a validation to mean anything.
 */
import type { Facts, Json, JsonObject, RunContext } from '../../src/task-api.js';
import { hashJson } from '../../src/hash.js';
import { FILTERS, type Filter } from './asm-clean.js';
import { buildPch, DEFAULT_PCH_HEADERS, pchHeaderFor } from './pch.js';
import { loadToolchain, type Toolchain } from './toolchain.js';

export interface CompileParams {
  toolchain?: string;
  opt?: string;
  flags?: string[];
  pch?: boolean;
  clean?: boolean | { flags?: boolean; filters?: boolean | Filter[] };
  unlessFits?: string | FitTarget;
}

/** The limits a fallback variant's gate checks: a model's (src/llm/model-limits.ts), overridden as the dataset does. */
export interface FitTarget {
  model: string;
  maxTokensPerExample?: number;
  maxAnswerTokens?: number;
}

export const OPT_LEVELS = ['O0', 'O1', 'O2', 'O3', 'Os', 'Og'];

/** Parameters shared by compile and validate: they must agree for a validation to mean anything. */
export const toolchainParamsSchema: JsonObject = {
  toolchain: { type: 'string', description: 'Toolchain name: a file in toolchain/ (default x86_64).' },
  opt: { enum: OPT_LEVELS, description: 'Optimisation level (default O0, as the seed).' },
  flags: { type: 'array', items: { type: 'string' }, description: 'Extra compiler flags.' },
};

export function compileFlags(tc: Toolchain, p: CompileParams): string[] {
  const clean = normaliseClean(p.clean);
  return [`-${p.opt ?? 'O0'}`, ...(p.flags ?? []), ...(clean.flags ? tc.cleanFlags : [])];
}

/** `clean` as flags on or off and the list of text filters. */
export function normaliseClean(c: CompileParams['clean']): { flags: boolean; filters: Filter[] } {
  if (!c) return { flags: false, filters: [] };
  if (c === true) return { flags: true, filters: [...FILTERS] };
  const filters = c.filters === undefined || c.filters === true ? [...FILTERS] : c.filters === false ? [] : c.filters;
  return { flags: c.flags ?? true, filters };
}

/** A program is text: valid UTF-8 without NUL bytes. */
export function textProblem(bytes: Buffer): string | undefined {
  if (bytes.includes(0)) return 'contains NUL bytes: a binary file, not C++ source';
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return 'is not valid UTF-8 text';
  }
  return undefined;
}

export async function toolchainFor(ctx: { projectRoot: string; params: JsonObject; facts?: Facts }): Promise<Toolchain> {
  return loadToolchain(ctx.projectRoot, String(ctx.params.toolchain ?? 'x86_64'), ctx.facts);
}

/**
 * Names exactly what a `.s` is: the untouched `g++ -S` output of the source with this hash, built
 * by this toolchain with these flags. `validate` uses it to build its C++ reference from that file
 * instead of compiling the C++ again, and to see that a candidate *is* that file.
 */
export function compiledAs(toolchain: unknown, flags: string[], srcHash: string): string {
  return hashJson({ toolchain: (toolchain ?? null) as Json, flags, src: srcHash });
}

/** A precompiled header folder for this program, or undefined (no heavy first include, or it failed). */
export async function pchFor(ctx: RunContext, tc: Toolchain, flags: string[], src: string): Promise<string | undefined> {
  const header = pchHeaderFor(src, DEFAULT_PCH_HEADERS);
  if (!header) return undefined;
  const art = await ctx.artifact('pch', { toolchain: ctx.identity.toolchain ?? null, flags, header, pchVersion: '1' }, async (dir) => {
    const r = await buildPch(tc, flags, header, dir, ctx.signal);
    if (!r.ok) return { files: [], meta: { failed: r.stderr.slice(0, 2000) } };
    return { files: [`${header}.gch`, header] };
  });
  return art.meta.failed ? undefined : art.dir;
}
