/**
 * `validate`: does the assembly assemble, link and run like the C++?
 *
 * The reference is the C++ built by the same toolchain and flags, run in the sandbox on every test
 * case of the program (see `casesOf`: the human ones beside it, else the model-written ones of a
 * `with.inputs` target, else `params.stdin`, else empty input). With the nondeterminism check (the
 * default) it runs on a stepped fake clock (every clock read advances it by a fixed step, CPU clocks
 * included) and a second build with -ftrivial-auto-var-init=pattern runs at another start and
 * step, so a program whose output depends on uninitialised memory or on the time is
 * `nondeterministic`; further runs then say which of the two it was. A program that reads stdin
 * and hits end of input with no test case, or runs out of its case's input and then fails, is
 * `needs-input`, with what it printed before it waited. The reference is a cached artifact per
 * (toolchain, flags, program, case input, limits), so each case's expected output is cached with it:
 * re-validating a changed .s does not rebuild it. When an input is the compiler's own `-S` output for these flags (compile's
 * `compiledAs`), the reference is linked from it rather than compiled again, and when the candidate
 * is that very file it shares the reference's run; otherwise the reference links with the faster
 * linker where there is one (only the check runs it; the candidate keeps the toolchain's).
 *
 * The candidate (`from`, usually the cleaned .s) is assembled and linked as the seed did
 * (`g++ prog.s -o prog`) and run the same way. If it fails and a `raw` input is given (the
 * uncleaned .s), the raw one is validated instead and, if it passes, kept with the reason the
 * cleaned one was refused.
 *
 * A candidate is `ok` only if it matches the reference on every case; a failure names the case.
 *
 * Verdicts: ok, compile-error, assemble-error, link-error, crash, timeout, output-mismatch,
 * nondeterministic, output-too-large, needs-input — each with the tool's message.
 */
import type { FileRef, JsonObject, MapInput, MapKind, RunContext, TaskResult } from '../src/task-api.js';
import { countTokensAsync, warmTokenCounter } from './lib/token-counter.js';
import { buildFromAsm } from './lib/gxx.js';
import { compiledAs, compileFlags, textProblem, toolchainFor, toolchainParamsSchema } from './lib/cxx-params.js';
import {
  checkExecutable, checkParamsSchema, firstLines, programRunIdentity, reference, sandboxLimits,
  type Reference, type ReferenceBuilds, type RunVerdict, type TestCase, type ValidateParams, type Verdict,
} from './lib/program-check.js';

/** Expected outputs up to this size are kept in the `.cases.json` output (larger: only the first case's `.expected.txt`). */
const EXPECTED_INLINE_MAX = 64 * 1024;

export const validateKind: MapKind = {
  name: 'validate',
  version: '4',
  mode: 'map',
  pool: 'cpu',
  description: 'Assemble, link and run the assembly in the sandbox; compare with the C++ reference.',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...toolchainParamsSchema,
      ...checkParamsSchema,
    },
  },
  reads: { from: ['s', 'safe'], raw: ['s'], source: ['src', 'stdin', 'cases/*'], inputs: ['cases'] },
  messagePaths: { 'prog.cpp': 'src' },
  outputs: () => [
    { name: 's', ext: '.s' },
    { name: 'expected', ext: '.expected.txt' },
    { name: 'cases', ext: '.cases.json' },
    // What the assembly printed when it differs from `expected` (output-mismatch): for a diff.
    { name: 'actual', ext: '.actual.txt' },
  ],
  // o200k tables for the token counts (~0.35 s to load, in a helper process).
  async warm() {
    warmTokenCounter();
  },
  async prepare(ctx) {
    return programRunIdentity(ctx);
  },
  async run(input: MapInput, ctx: RunContext): Promise<TaskResult> {
    const p = ctx.params as ValidateParams;
    const source = input.inputs.source;
    const cand = input.inputs.from;
    if (!source?.files.src) return { status: 'rejected', reason: 'no-source', message: 'validate needs `with: {source: <programs>}` to build the reference' };
    if (!cand?.files.s) return { status: 'rejected', reason: 'no-assembly', message: 'the input item has no .s file' };
    const srcBytes = await ctx.read(source.files.src);
    const problem = textProblem(srcBytes);
    if (problem) return { status: 'rejected', reason: 'not-text', message: `source ${problem}` };
    const src = srcBytes.toString('utf8');
    const tc = await toolchainFor(ctx);
    // Which toolchain made this variant, and its compiler: a dataset that mixes toolchains names
    // each variant by it (`O0-clean@gcc11`) and tells the model the compiler that really made it.
    const tcId = (ctx.identity.toolchain ?? {}) as JsonObject;
    const made: JsonObject = { toolchain: tc.name, ...(typeof tcId.cxxVersion === 'string' ? { compiler: tcId.cxxVersion } : {}), ...(typeof tcId.dumpmachine === 'string' ? { triple: tcId.dumpmachine } : {}), opt: p.opt ?? 'O0', ...(tcId.noAutoVarInit && p.nondeterminism !== false ? { uninitialisedCheck: `not done: ${tc.cxx} has no -ftrivial-auto-var-init` } : {}) };
    const limits = sandboxLimits(p);

    const refFlags = compileFlags(tc, { ...p, clean: false });
    // The reference's own `g++ -S` output, when an input is exactly that (see `compiledAs`).
    const refId = compiledAs(ctx.identity.toolchain, refFlags, source.files.src.hash);
    const refAsm = [input.inputs.raw, cand].find((v) => v?.files.s && v.meta.compiledAs === refId)?.files.s;
    const { cases, origin, note } = await casesOf(input, ctx, p);
    const named = cases.length > 1 || origin !== 'none';
    const caseLabel = (c: TestCase) => (named ? `case ${JSON.stringify(c.name)}: ` : '');
    const refs: Reference[] = [];
    const builds: ReferenceBuilds = new Map();
    // The candidate is the compiler's own .s (the like-for-like shape): it shares the reference's
    // run. Otherwise (a cleaned candidate) the reference's executable is the check's own.
    const shareRun = !!refAsm && refAsm.hash === cand.files.s.hash;
    for (const c of cases) {
      const ref = await reference(ctx, tc, p, src, c.stdin, limits, refFlags, refAsm, builds, { sharedWithCandidate: shareRun });
      refs.push(ref);
      if (ref.verdict !== 'ok') {
        const files = { expected: ref.stdout, cases: casesJson(cases.slice(0, refs.length), refs, origin) };
        const why = note ? `; ${note}` : '';
        return { status: 'rejected', reason: ref.verdict, message: `${caseLabel(c)}the C++ program itself: ${ref.message}${why}`, files, meta: { cases: cases.length, casesFrom: origin, ...made } };
      }
    }
    const expected = refs[0]!.stdout;
    const casesFile = casesJson(cases, refs, origin);

    // The reference's first run is of the compiler's own assembly for these flags. A candidate
    // that is that very file gives the same executable and the same run (same bytes, stdin, limits
    // and clock), so that run is its run.
    const check = async (file: FileRef, text: string): Promise<RunVerdict> => {
      if (shareRun && refAsm?.hash === file.hash) return { verdict: 'ok', message: '', stdout: expected, exitCode: refs[0]!.exitCode };
      const work = await ctx.tmpdir();
      const b = await buildFromAsm(tc, text, { dir: work, signal: ctx.signal });
      if (!b.ok) return { verdict: b.stage === 'assemble' ? 'assemble-error' : 'link-error', message: b.stderr.trim(), stdout: Buffer.alloc(0), exitCode: null };
      for (let i = 0; i < cases.length; i++) {
        const r = await checkExecutable(ctx, tc, p, b.exePath, refs[i]!, limits, cases[i]!.stdin);
        if (r.verdict !== 'ok') return { ...r, message: `${caseLabel(cases[i]!)}${r.message}` };
      }
      return { verdict: 'ok', message: '', stdout: expected, exitCode: refs[0]!.exitCode };
    };
    const caseMeta: JsonObject = { cases: cases.length, casesFrom: origin, ...made };
    const rawRef = input.inputs.raw?.files.s;
    // compile already counted its output's tokens: reuse them (o200k on 50 KB of assembly is not free).
    const counted = (v: { meta: JsonObject } | undefined, text: () => Promise<string>) =>
      typeof v?.meta.tokens === 'number' ? Promise.resolve(v.meta.tokens) : text().then(countTokensAsync);
    const exitCode = refs[0]!.exitCode;
    // Candidates, best first: the cleaned file, the file cleaned by the older filters only
    // (compile's `safe`), the raw one. The first that behaves like the C++ is kept.
    const candidates: { ref: FileRef; what: 'clean' | 'safe' | 'raw' }[] = [{ ref: cand.files.s, what: rawRef && rawRef.hash !== cand.files.s.hash ? 'clean' : 'raw' }];
    if (cand.files.safe) candidates.push({ ref: cand.files.safe, what: 'safe' });
    if (rawRef && !candidates.some((c) => c.ref.hash === rawRef.hash)) candidates.push({ ref: rawRef, what: 'raw' });
    const refused: { what: string; verdict: Verdict; message: string }[] = [];
    let last: RunVerdict | undefined;
    for (const c of candidates) {
      const text = (await ctx.read(c.ref)).toString('utf8');
      const v = await check(c.ref, text);
      if (v.verdict !== 'ok') {
        refused.push({ what: c.what, verdict: v.verdict, message: v.message });
        last = v;
        continue;
      }
      const tokens = c.what === 'clean' || (c.what === 'raw' && c.ref.hash === cand.files.s.hash)
        ? await counted(cand, async () => text)
        : c.what === 'safe' && typeof cand.meta.tokensSafe === 'number' ? cand.meta.tokensSafe
        : c.what === 'raw' ? await counted(input.inputs.raw, async () => text) : await countTokensAsync(text);
      const meta: JsonObject = { verdict: 'ok', variant: c.what === 'raw' ? 'raw' : 'clean', tokens, exitCode, ...caseMeta };
      if (c.what === 'safe') meta.cleanFilters = 'conservative';
      if (rawRef) meta.tokensRaw = await counted(input.inputs.raw, async () => (await ctx.read(rawRef)).toString('utf8'));
      if (refused.length) {
        for (const r of refused) ctx.log(`${r.what === 'clean' ? 'cleaned' : 'conservatively cleaned'} assembly refused (${r.verdict}): ${r.message}`);
        meta.cleanRejected = refused[0]!.verdict;
        meta.cleanMessage = firstLines(refused[0]!.message, 3);
        meta.fellBackTo = c.what;
      }
      return { status: 'ok', files: { s: text, expected, cases: casesFile }, meta };
    }
    return { status: 'rejected', reason: last!.verdict, message: last!.message, files: { ...withActual(expected, last!), cases: casesFile }, meta: caseMeta };
  },
};

/** `actual`: what the assembly printed where it differs from `expected` (output-mismatch), for a diff. */
function withActual(expected: Buffer, v: RunVerdict): Record<string, Buffer> {
  return v.verdict === 'output-mismatch' ? { expected, actual: v.stdout } : { expected };
}

/** Where a program's test cases come from (the `casesFrom` of validate's meta and the report). */
export type CasesOrigin = 'human' | 'model' | 'params' | 'none';

/**
 * The test cases of a program. Human cases (the `files` kind's `cases/<name>` files, or its
 * `stdin` sidecar) always win; then the kept cases of a `with.inputs` target (model-written, its
 * `cases` file); then `params.stdin`; else one case with empty input.
 */
export async function casesOf(
  input: MapInput, ctx: Pick<RunContext, 'read'>, p: { stdin?: string },
): Promise<{ cases: TestCase[]; origin: CasesOrigin; note?: string }> {
  const files = input.inputs.source?.files ?? {};
  const folder = Object.keys(files).filter((n) => n.startsWith('cases/')).sort();
  if (folder.length) return { cases: await Promise.all(folder.map(async (n) => ({ name: n.slice('cases/'.length), stdin: await ctx.read(files[n]!) }))), origin: 'human' };
  if (files.stdin) return { cases: [{ name: 'stdin', stdin: await ctx.read(files.stdin) }], origin: 'human' };
  const model = input.inputs.inputs;
  let note: string | undefined;
  if (model?.status === 'ok' && model.files.cases) {
    const parsed = JSON.parse((await ctx.read(model.files.cases)).toString('utf8')) as {
      cases?: { name: string; stdin: string }[]; dropped?: { reason?: string }[]; problem?: string;
    };
    const kept = (parsed.cases ?? []).filter((c) => typeof c.name === 'string' && typeof c.stdin === 'string');
    if (kept.length) return { cases: kept.map((c) => ({ name: c.name, stdin: Buffer.from(c.stdin, 'utf8') })), origin: 'model' };
    const reasons: Record<string, number> = {};
    for (const d of parsed.dropped ?? []) reasons[d.reason ?? '?'] = (reasons[d.reason ?? '?'] ?? 0) + 1;
    if (parsed.dropped?.length) note = `every model-written case was dropped (${Object.entries(reasons).map(([r, n]) => `${r} ×${n}`).join(', ')})`;
    else if (parsed.problem) note = `the model wrote no usable case (${parsed.problem})`;
  }
  const extra = note ? { note } : {};
  if (p.stdin !== undefined) return { cases: [{ name: 'stdin', stdin: Buffer.from(p.stdin, 'utf8') }], origin: 'params', ...extra };
  return { cases: [{ name: 'default', stdin: Buffer.alloc(0) }], origin: 'none', ...extra };
}

/** validate's `.cases.json`: every case with its input and, where cheap, the expected output. */
function casesJson(cases: TestCase[], refs: Reference[], origin: CasesOrigin): string {
  const list = cases.map((c, i) => {
    const r = refs[i];
    const entry: JsonObject = { name: c.name, stdin: c.stdin.toString('utf8') };
    if (r && r.verdict === 'ok' && r.stdout.length <= EXPECTED_INLINE_MAX) {
      entry.expected = r.stdout.toString('utf8');
      entry.exitCode = r.exitCode;
    }
    if (r && r.verdict !== 'ok') {
      entry.verdict = r.verdict;
      entry.message = r.message;
    }
    return entry;
  });
  return `${JSON.stringify({ from: origin, cases: list }, null, 1)}\n`;
}

