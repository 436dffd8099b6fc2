/**
 * `compile`: C++ → assembly with `g++ -S`, one item per program, optionally cleaned.
 *
 * Every program is compiled as `prog.cpp` in an empty temp folder, so `.file` never leaks a
 * path and identical programs share one cache entry. When a program's first line includes a
 * heavy standard header, a precompiled header for (toolchain, flags, header) is used — itself a
 * cached artifact; GCC gives byte-identical assembly with it (test/gxx.test.ts proves it).
 *
 * `clean` cuts tokens: first the toolchain's cleanFlags (-fno-asynchronous-unwind-tables,
 * -fcf-protection=none, -fno-ident), then text filters. `.cfi_*` lines are only stripped from
 * programs that catch nothing themselves. A cleaned file is only a candidate: the `validate` kind
 * accepts it only if it passes, else the `safe` one (older filters only), else the raw one.
 * With `unlessFits` (a fallback variant) it first checks whether the preferred variant surely
 * fits the model and, if so, is `not-needed` (docs/variants.md).
 */
import type { ArtifactResult, JsonObject, MapInput, MapKind, RunContext, TaskResult } from '../src/task-api.js';
import { allFilters, cleanAsm, FILTERS, FILTERS_V1, type CleanOptions, type Filter } from './lib/asm-clean.js';
import { countTokensAsync, countTokensOnce, warmTokenCounter } from './lib/token-counter.js';
import { compileArgv, compileToAsm } from './lib/gxx.js';
import { limitsFor } from '../src/llm/model-limits.js';
import { pchHeaderFor } from './lib/pch.js';
import { toolchainIdentity, type Toolchain } from './lib/toolchain.js';
import { cleanFlagsProof, withoutCleanFlagLines } from './lib/clean-flags.js';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  compiledAs, compileFlags, normaliseClean, pchFor, textProblem, toolchainFor, toolchainParamsSchema,
  type CompileParams, type FitTarget,
} from './lib/cxx-params.js';

/** True if the program itself throws or catches (comments and literals ignored). */
export function programUsesExceptions(src: string): boolean {
  const code = src
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/[^\n]*/g, ' ')
    .replace(/"(?:\\.|[^"\\\n])*"/g, '""')
    .replace(/'(?:\\.|[^'\\\n])*'/g, "''");
  return /\b(try|catch|throw)\b|\b__cpp_exceptions\b|\b__EXCEPTIONS\b/.test(code);
}

/**
 * True if the program catches an exception itself. One that only throws (or whose library calls
 * throw) ends in `terminate` with or without unwind tables — no frame of its own would catch —
 * so its `.cfi_*` can go; validation checks the result behaves the same either way.
 */
export function programCatches(src: string): boolean {
  const code = src
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/[^\n]*/g, ' ')
    .replace(/"(?:\\.|[^"\\\n])*"/g, '""')
    .replace(/'(?:\\.|[^'\\\n])*'/g, "''");
  return /\b(try|catch)\b|\b__cpp_exceptions\b|\b__EXCEPTIONS\b|\bset_terminate\b|\bexception_ptr\b|\bcurrent_exception\b/.test(code);
}

/**
 * When the preferred variant surely fits the model's limits, why this fallback is not needed
 * (else undefined: build it). Surely: the answer (C++ and assembly, counted with the model's
 * tokenizer) is under the output limit and, with 2,048 tokens left for the system message, the
 * request and the chat template, under the training limit. The dataset decides exactly; in
 * doubt the fallback is built.
 */
async function preferredFits(ctx: RunContext, preferred: MapInput['inputs'][string], src: string, target: string | FitTarget): Promise<string | undefined> {
  if (preferred.status !== 'ok' || !preferred.files.s) return undefined;
  const fit = typeof target === 'string' ? { model: target } : target;
  const limits = limitsFor(fit.model);
  const trainingTokens = fit.maxTokensPerExample ?? limits.trainingTokens;
  const outputTokens = fit.maxAnswerTokens ?? limits.outputTokens;
  // Counted in the token helper process, once per text for both gates of a fallback pair.
  const [srcTokens, asmTokens] = await Promise.all([countTokensOnce(src, limits.tokenizer), countTokensOnce((await ctx.read(preferred.files.s)).toString('utf8'), limits.tokenizer)]);
  const answer = srcTokens + asmTokens + 32;
  if (outputTokens !== null && answer > outputTokens) return undefined;
  if (answer + 2048 > trainingTokens) return undefined;
  const own = String(ctx.params.toolchain ?? 'x86_64');
  const made = typeof preferred.meta.toolchain === 'string' && preferred.meta.toolchain !== own ? `@${preferred.meta.toolchain}` : '';
  const name = `${String(preferred.meta.opt ?? 'preferred')}${preferred.meta.variant === 'clean' ? '-clean' : ''}${made}`;
  return `${name} fits ${fit.model}${outputTokens !== limits.outputTokens || trainingTokens !== limits.trainingTokens ? ` within ${outputTokens ?? '–'} answer / ${trainingTokens} example tokens` : ''} (answer ≈ ${answer} tokens)`;
}

/**
 * The `g++ -S` output for these flags. The raw compile is a shared artifact (keyed by toolchain,
 * flags and source), so the raw and the cleaned target of one program run g++ once: the cleaned
 * file is the raw one minus the lines the toolchain's cleanFlags would remove, once that is proven
 * for this compiler (tasks/lib/clean-flags.ts); until then, and where it is disproven, the cleaned
 * target compiles with the flags itself.
 */
async function compiled(
  ctx: RunContext, tc: Toolchain, p: CompileParams, src: string, srcHash: string, flags: string[], cleanFlags: boolean,
): Promise<{ ok: true; asm: string; stderr: string; pch: boolean } | { ok: false; stderr: string }> {
  const withFlags = async () => {
    const pchDir = p.pch === false ? undefined : await pchFor(ctx, tc, flags, src);
    ctx.log(`$ ${compileArgv(tc, flags, pchDir).join(' ')}`); // the command, for `asmgraph show`
    const r = await compileToAsm({ tc, source: src, flags, pchDir, dir: await ctx.tmpdir(), signal: ctx.signal });
    return r.ok ? { ...r, pch: !!pchDir } : r;
  };
  const rawFlags = cleanFlags ? compileFlags(tc, { ...p, clean: false }) : flags;
  const proof = cleanFlags ? cleanFlagsProof(tc, ctx.identity.toolchain ?? null, rawFlags, ctx.facts) : undefined;
  if (proof?.state === 'compile') return withFlags();
  const art = await ctx.artifact('compile-raw', { toolchain: ctx.identity.toolchain ?? null, flags: rawFlags, src: srcHash, pch: p.pch !== false, version: '1' }, async (dir): Promise<ArtifactResult> => {
    const pchDir = p.pch === false ? undefined : await pchFor(ctx, tc, rawFlags, src);
    const r = await compileToAsm({ tc, source: src, flags: rawFlags, pchDir, dir: await ctx.tmpdir(), signal: ctx.signal });
    if (ctx.signal.aborted) throw new Error('interrupted'); // a killed g++ is not the program's compile error
    if (!r.ok) return { files: [], meta: { failed: r.stderr.slice(0, 64 * 1024) } };
    await fsp.writeFile(path.join(dir, 'prog.s'), r.asm);
    return { files: ['prog.s'], meta: { stderr: r.stderr.slice(0, 64 * 1024), argv: compileArgv(tc, rawFlags, pchDir), pch: !!pchDir } };
  });
  if (typeof art.meta.failed === 'string') return { ok: false, stderr: art.meta.failed };
  const raw = await fsp.readFile(art.paths['prog.s']!, 'utf8');
  const stderr = String(art.meta.stderr ?? '');
  ctx.log(`$ ${(art.meta.argv as string[] | undefined ?? compileArgv(tc, rawFlags)).join(' ')}`);
  const pch = art.meta.pch === true;
  if (!proof) return { ok: true, asm: raw, stderr, pch };
  const derived = withoutCleanFlagLines(raw, tc.cleanFlags)!;
  if (proof.state === 'derive') {
    ctx.log(`cleanFlags (${tc.cleanFlags.join(' ')}) applied by removing the lines they remove (proven for this compiler)`);
    return { ok: true, asm: derived, stderr, pch };
  }
  const own = await withFlags();
  proof.record(own.ok && own.asm === derived);
  return own;
}

export const compileKind: MapKind = {
  name: 'compile',
  version: '4',
  mode: 'map',
  pool: 'cpu',
  description: 'C++ → assembly with g++ -S (fixed file name, precompiled headers, optional cleaning).',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...toolchainParamsSchema,
      pch: { type: 'boolean', description: 'Use precompiled headers when they apply (default true).' },
      unlessFits: {
        description: 'A fallback variant: with `with: {preferred: <validated target>}`, build only for programs whose preferred variant may not fit this model\'s limits (src/llm/model-limits.ts), or the limits given as the dataset\'s `maxTokensPerExample` / `maxAnswerTokens`; the others are rejected `not-needed` at no cost.',
        oneOf: [
          { type: 'string' },
          {
            type: 'object',
            additionalProperties: false,
            required: ['model'],
            properties: {
              model: { type: 'string' },
              maxTokensPerExample: { type: 'integer', minimum: 1 },
              maxAnswerTokens: { type: 'integer', minimum: 1 },
            },
          },
        ],
      },
      clean: {
        description: 'Cut noise: true for all flags and filters, or pick.',
        oneOf: [
          { type: 'boolean' },
          {
            type: 'object',
            additionalProperties: false,
            properties: {
              flags: { type: 'boolean', description: "The toolchain's cleanFlags (default true)." },
              filters: {
                oneOf: [{ type: 'boolean' }, { type: 'array', items: { enum: [...FILTERS] } }],
                description: `Text filters: ${FILTERS.join(', ')} (default all).`,
              },
            },
          },
        ],
      },
    },
  },
  reads: { from: ['src'], preferred: ['s'] },
  messagePaths: { 'prog.cpp': 'src' },
  // `safe`: when the newer filters (rename, directives, cfi for programs that catch nothing) are
  // on, the file cleaned with the older ones only — validate's fallback before the raw file.
  outputs: () => [{ name: 's', ext: '.s' }, { name: 'safe', ext: '.safe.s' }],
  // o200k tables for the token counts (~0.35 s to load, in a helper process).
  async warm() {
    warmTokenCounter();
  },
  async prepare(ctx) {
    const tc = await toolchainFor(ctx);
    return { toolchain: await toolchainIdentity(tc, ctx.facts) };
  },
  async run(input: MapInput, ctx: RunContext): Promise<TaskResult> {
    const p = ctx.params as CompileParams;
    const from = input.inputs.from;
    if (!from?.files.src) return { status: 'rejected', reason: 'no-source', message: 'the input item has no src file' };
    const bytes = await ctx.read(from.files.src);
    const problem = textProblem(bytes);
    if (problem) return { status: 'rejected', reason: 'not-text', message: `${input.item.key} ${problem}` };
    const src = bytes.toString('utf8');
    if (p.unlessFits && input.inputs.preferred) {
      const fits = await preferredFits(ctx, input.inputs.preferred, src, p.unlessFits);
      if (fits) return { status: 'rejected', reason: 'not-needed', message: fits };
    }
    const tc = await toolchainFor(ctx);
    const flags = compileFlags(tc, p);
    const clean = normaliseClean(p.clean);
    warmTokenCounter(); // its tables load while g++ runs
    const r = await compiled(ctx, tc, p, src, from.files.src.hash, flags, clean.flags);
    if (!r.ok) return { status: 'rejected', reason: 'compile-error', message: r.stderr.trim() };
    if (r.stderr.trim()) ctx.log(r.stderr.trim());
    let asm = r.asm;
    const meta: JsonObject = { pch: r.pch ? (pchHeaderFor(src) ?? null) : null };
    let safe: string | undefined;
    if (clean.filters.length) {
      const run = (filters: readonly Filter[], noExceptions: boolean) => {
        const opts: CleanOptions = { noExceptions };
        const all = allFilters(noExceptions);
        for (const f of FILTERS) opts[f] = filters.includes(f) && !!all[f];
        return cleanAsm(r.asm, opts);
      };
      const c = run(clean.filters, !programCatches(src));
      const v1 = clean.filters.filter((f) => FILTERS_V1.includes(f));
      const conservative = run(v1, !programUsesExceptions(src));
      asm = c.asm;
      if (conservative.asm !== c.asm) safe = conservative.asm;
      meta.removedLines = Object.values(c.removed).reduce((a, b) => a + b, 0);
      if (c.renamed) meta.renamed = c.renamed;
      meta.filters = FILTERS.filter((f) => c.removed[f] > 0 || (f === 'rename' && c.renamed > 0)).join(',');
      if (Object.keys(c.refused).length) meta.refused = Object.keys(c.refused).join(',');
    }
    else meta.compiledAs = compiledAs(ctx.identity.toolchain, flags, from.files.src.hash);
    meta.tokens = await countTokensAsync(asm);
    if (safe !== undefined) meta.tokensSafe = await countTokensAsync(safe);
    return { status: 'ok', files: safe === undefined ? { s: asm } : { s: asm, safe }, meta };
  },
};
