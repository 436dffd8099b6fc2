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
 * `compiledAs`), the reference is linked from it rather than compiled again, and a candidate that
 * is that very file shares the reference's run.
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
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FileRef, JsonObject, MapInput, MapKind, RunContext, TaskResult } from '../src/task-api.js';
import { runSandboxed, sandboxIdentity, setHelperDir, type SandboxLimits, type SandboxResult } from '../src/sandbox/index.js';
import { countTokensAsync, warmTokenCounter } from './lib/token-counter.js';
import { buildExecutable, buildFromAsm } from './lib/gxx.js';
import { compiledAs, compileFlags, pchFor, textProblem, toolchainFor, toolchainParamsSchema, type CompileParams } from './compile.js';
import { toolchainIdentity, type Toolchain } from './lib/toolchain.js';

export const VERDICTS = [
  'ok', 'compile-error', 'assemble-error', 'link-error', 'crash', 'timeout', 'output-mismatch', 'nondeterministic', 'output-too-large',
  'needs-input',
] as const;
export type Verdict = (typeof VERDICTS)[number];

/** The sandbox limits a validate-style params object asks for. */
export function sandboxLimits(p: { timeoutMs?: number; memoryMB?: number }): Partial<SandboxLimits> {
  return {
    wallMs: p.timeoutMs ?? 5000,
    cpuSeconds: Math.max(1, Math.ceil((p.timeoutMs ?? 5000) / 1000)),
    memoryBytes: (p.memoryMB ?? 1024) * 1024 * 1024,
  };
}

export interface ValidateParams extends CompileParams {
  stdin?: string;
  timeoutMs?: number;
  compareExitCode?: boolean;
  nondeterminism?: boolean;
  memoryMB?: number;
}

export interface RunVerdict {
  verdict: Verdict;
  message: string;
  stdout: Buffer;
  exitCode: number | null;
  /** The program read all of its input and blocked reading more (see SandboxResult.inputWait). */
  inputWait?: { consumed: number; stdoutBytes: number };
}

/** One test case: a name (the case file's name) and the program's standard input. */
export interface TestCase {
  name: string;
  stdin: Buffer;
}

/**
 * The clocks a program sees. A stepped fake clock: each read of a wall or monotonic clock advances
 * it by `wallSeconds`, each CPU-clock read by `cpuNanoseconds`, so elapsed-time output is the same
 * on every run at one clock and different at the other (start, rate and CPU rate all differ).
 */
export interface Clock {
  at: string;
  step: { wallSeconds: number; cpuNanoseconds: number };
}
export const CLOCK_A: Clock = { at: '2001-02-03 04:05:06', step: { wallSeconds: 0.25, cpuNanoseconds: 1000 } };
export const CLOCK_B: Clock = { at: '2019-11-12 13:14:15', step: { wallSeconds: 1.75, cpuNanoseconds: 7000 } };
/** Expected outputs up to this size are kept in the `.cases.json` output (larger: only the first case's `.expected.txt`). */
const EXPECTED_INLINE_MAX = 64 * 1024;

export const validateKind: MapKind = {
  name: 'validate',
  version: '3',
  mode: 'map',
  pool: 'cpu',
  description: 'Assemble, link and run the assembly in the sandbox; compare with the C++ reference.',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...toolchainParamsSchema,
      stdin: {
        type: 'string',
        description: 'Standard input of a program that has no test case (default empty); cases beside the program or from `with.inputs` win.',
      },
      timeoutMs: { type: 'integer', minimum: 100, description: 'Wall-clock limit per run (default 5000).' },
      memoryMB: { type: 'integer', minimum: 16, description: 'Address-space limit per run (default 1024).' },
      compareExitCode: { type: 'boolean', description: 'Exit codes must match too (default true).' },
      nondeterminism: { type: 'boolean', description: 'Detect time- and uninitialised-memory-dependent output (default true).' },
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
    // The sandbox's small supervisor binary is cached in the project when the sandbox uid can reach it.
    if (await reachableByOthers(ctx.projectRoot)) setHelperDir(path.join(ctx.projectRoot, 'cache', 'sandbox'));
    const tc = await toolchainFor(ctx);
    return { toolchain: await toolchainIdentity(tc), sandbox: await sandboxIdentity() };
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
    for (const c of cases) {
      const ref = await reference(ctx, tc, p, src, c.stdin, limits, refFlags, refAsm, builds);
      refs.push(ref);
      if (ref.verdict !== 'ok') {
        const files = { expected: ref.stdout, cases: casesJson(cases.slice(0, refs.length), refs, origin) };
        const why = note ? `; ${note}` : '';
        return { status: 'rejected', reason: ref.verdict, message: `${caseLabel(c)}the C++ program itself: ${ref.message}${why}`, files, meta: { cases: cases.length, casesFrom: origin } };
      }
    }
    const expected = refs[0]!.stdout;
    const casesFile = casesJson(cases, refs, origin);

    // The reference's first run is of the compiler's own assembly for these flags. A candidate
    // that is that very file gives the same executable and the same run (same bytes, stdin, limits
    // and clock), so that run is its run.
    const check = async (file: FileRef, text: string): Promise<RunVerdict> => {
      if (refAsm?.hash === file.hash) return { verdict: 'ok', message: '', stdout: expected, exitCode: refs[0]!.exitCode };
      const work = await ctx.tmpdir();
      const b = await buildFromAsm(tc, text, { dir: work, signal: ctx.signal });
      if (!b.ok) return { verdict: b.stage === 'assemble' ? 'assemble-error' : 'link-error', message: b.stderr.trim(), stdout: Buffer.alloc(0), exitCode: null };
      for (let i = 0; i < cases.length; i++) {
        const r = await checkExecutable(ctx, tc, p, b.exePath, refs[i]!, limits, cases[i]!.stdin);
        if (r.verdict !== 'ok') return { ...r, message: `${caseLabel(cases[i]!)}${r.message}` };
      }
      return { verdict: 'ok', message: '', stdout: expected, exitCode: refs[0]!.exitCode };
    };
    const caseMeta: JsonObject = { cases: cases.length, casesFrom: origin };
    const rawRef = input.inputs.raw?.files.s;
    // compile already counted its output's tokens: reuse them (o200k on 50 KB of assembly is not free).
    const counted = (v: { meta: JsonObject } | undefined, text: () => Promise<string>) =>
      typeof v?.meta.tokens === 'number' ? Promise.resolve(v.meta.tokens) : text().then(countTokensAsync);
    const exitCode = refs[0]!.exitCode;
    const opt = p.opt ?? 'O0';
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
      const meta: JsonObject = { verdict: 'ok', variant: c.what === 'raw' ? 'raw' : 'clean', opt, tokens, exitCode, ...caseMeta };
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

type Built = { ok: true; exePath: string } | { ok: false; stderr: string };
/** The reference executables one node builds, shared by the reference runs of all its cases. */
export type ReferenceBuilds = Map<string, Promise<Built>>;

export interface Reference extends RunVerdict {
  runMs?: number;
  /** The program read past the end of its input at least once. */
  readsInput?: boolean;
}

/**
 * The C++ program's own behaviour on one input: a cached artifact per (toolchain, flags, source,
 * stdin, limits).
 *
 * The program is built with the validate flags and run (on clock A with the nondeterminism check).
 * `g++ prog.cpp -o prog` is `g++ -S` followed by assembling and linking its output, so when an
 * input holds the compiler's own `-S` output for these flags (`rawAsm`), the reference is linked
 * from that file instead of compiling the C++ a second time; the artifact is the same either way,
 * so the route is not part of its key.
 *
 * Input: with an empty stdin the run stops as soon as the program waits for input (`needs-input`,
 * with what it printed before); with a case, the program gets end of input when it has read it
 * all and waits for more, and a run that then fails (crash, timeout, endless output, output that
 * changes) is `needs-input` too: the case is too short for it.
 *
 * Nondeterminism: a second build with `-ftrivial-auto-var-init=pattern` runs on clock B. When the
 * two disagree, the first build runs again on clock A (a difference there: the output varies
 * between identical runs) and on clock B (a difference: it depends on the time); otherwise it is
 * the uninitialised memory. The message says which.
 */
export async function reference(
  ctx: RunContext, tc: Toolchain, p: ValidateParams, src: string, stdin: Buffer, limits: Partial<SandboxLimits>, flags: string[], rawAsm?: FileRef,
  builds: ReferenceBuilds = new Map(),
): Promise<Reference> {
  const nondet = p.nondeterminism !== false;
  const art = await ctx.artifact(
    'reference',
    {
      toolchain: ctx.identity.toolchain ?? null, sandbox: ctx.identity.sandbox ?? null, flags, src,
      stdin: stdin.length <= 256 ? stdin.toString('latin1') : { sha256: sha256(stdin), size: stdin.length },
      limits: limits as JsonObject, nondet, version: '3',
    },
    async (dir) => {
      const buildError = async (b: { stderr: string }) => {
        await fsp.writeFile(path.join(dir, 'stdout'), '');
        return { files: ['stdout'], meta: { verdict: 'compile-error', message: b.stderr.trim().slice(0, 4000), exitCode: null } };
      };
      // The executables are built once per node, whatever the number of cases (in a node temp folder).
      const memo = (name: string, make: (into: string) => Promise<Built>) => {
        let b = builds.get(name);
        if (!b) builds.set(name, (b = ctx.tmpdir().then(make)));
        return b;
      };
      const fromSource = (extra: string[]) =>
        memo(`src ${extra.join(' ')}`, async (into) => buildExecutable(tc, src, [...flags, ...extra], { dir: into, pchDir: await pchFor(ctx, tc, flags, src), signal: ctx.signal }));
      // A failure to link the compiler's own output is the C++'s failure too (e.g. a function
      // declared and called but never defined), so it is reported the same way.
      const primary = rawAsm
        ? await memo(`asm ${rawAsm.hash}`, async (into) => buildFromAsm(tc, (await ctx.read(rawAsm)).toString('utf8'), { dir: into, signal: ctx.signal }))
        : await fromSource([]);
      if (!primary.ok) return buildError(primary);
      const run = (exe: string, clock?: Clock) => runProgram(ctx, tc, exe, p, limits, clock, stdin);
      const a = await run(primary.exePath, nondet ? CLOCK_A : undefined);
      let verdict: Verdict = a.verdict;
      let message = a.message;
      let stdout = a.stdout;
      if (a.inputWait && stdin.length === 0) {
        verdict = 'needs-input';
        stdout = a.stdout.subarray(0, a.inputWait.stdoutBytes);
        message = `reads standard input, but it has no test case (put one in <stem>.stdin.txt or <stem>.inputs/); before it waited it printed ${printed(stdout)}`;
      } else if (nondet && a.verdict === 'ok') {
        const patterned = await fromSource(['-ftrivial-auto-var-init=pattern']);
        if (!patterned.ok) return buildError(patterned);
        const b = await run(patterned.exePath, CLOCK_B);
        if (b.verdict !== 'ok' || !a.stdout.equals(b.stdout) || a.exitCode !== b.exitCode) {
          verdict = 'nondeterministic';
          message = await whyNondeterministic(a, b, run, primary.exePath);
        }
      }
      if (a.inputWait && stdin.length > 0 && verdict !== 'ok') {
        message = `read all ${a.inputWait.consumed} bytes of its input and waited for more (the case is too short for it), then: ${message}; before it waited it printed ${printed(a.stdout.subarray(0, a.inputWait.stdoutBytes))}`;
        verdict = 'needs-input';
      }
      await fsp.writeFile(path.join(dir, 'stdout'), stdout);
      return { files: ['stdout'], meta: { verdict, message, exitCode: a.exitCode, readsInput: !!a.inputWait } };
    },
  );
  return {
    verdict: art.meta.verdict as Verdict,
    message: String(art.meta.message ?? ''),
    stdout: await fsp.readFile(art.paths.stdout),
    exitCode: art.meta.exitCode as number | null,
    readsInput: art.meta.readsInput === true,
  };
}

/**
 * Which check tripped, once runs A (clock A) and B (pattern-filled locals, clock B) disagree: run
 * A's build again on clock A (differs: varies between identical runs) and on clock B (differs:
 * depends on the time); else the uninitialised memory.
 */
async function whyNondeterministic(
  a: RunVerdict, b: RunVerdict, run: (exe: string, clock?: Clock) => Promise<RunVerdict>, exe: string,
): Promise<string> {
  const same = (x: RunVerdict) => x.verdict === 'ok' && x.stdout.equals(a.stdout) && x.exitCode === a.exitCode;
  // A run that did not finish (a program close to the time limit) says so rather than "got <end of output>".
  const how = (x: RunVerdict) => (x.verdict === 'ok' ? describeDiff(a, x) : `that run: ${x.verdict}: ${x.message}`);
  const again = await run(exe, CLOCK_A);
  if (!same(again)) return `output changes between two identical runs (threads, addresses or another source the sandbox does not fix): ${how(again)}`;
  const clocked = await run(exe, CLOCK_B);
  if (!same(clocked)) {
    return `output depends on the time (check: clock start, rate and CPU-clock rate varied; time, gettimeofday, clock_gettime, clock(), std::chrono): ${how(clocked)}`;
  }
  const detail = b.verdict === 'ok' ? describeDiff(a, b) : `${b.verdict}: ${b.message}`;
  return `output depends on uninitialised memory (check: locals filled with a pattern, -ftrivial-auto-var-init=pattern): ${detail}`;
}

function printed(out: Buffer): string {
  if (out.length === 0) return 'nothing';
  return quote(out.toString('utf8').trimEnd());
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * Assembles, links and runs `asm` in the sandbox and compares it with the reference behaviour.
 * Also used by the eval kind for model-written assembly.
 */
export async function checkAssembly(
  ctx: RunContext, tc: Toolchain, p: ValidateParams, asm: string,
  ref: { stdout: Buffer; exitCode: number | null }, limits: Partial<SandboxLimits>, stdin?: Buffer,
): Promise<RunVerdict> {
  const work = await ctx.tmpdir();
  const b = await buildFromAsm(tc, asm, { dir: work, signal: ctx.signal });
  if (!b.ok) {
    return { verdict: b.stage === 'assemble' ? 'assemble-error' : 'link-error', message: b.stderr.trim(), stdout: Buffer.alloc(0), exitCode: null };
  }
  return checkExecutable(ctx, tc, p, b.exePath, ref, limits, stdin ?? Buffer.from(p.stdin ?? '', 'utf8'));
}

/** Runs a built candidate on one case (as the reference ran) and compares it with the reference. */
async function checkExecutable(
  ctx: RunContext, tc: Toolchain, p: ValidateParams, exe: string,
  ref: { stdout: Buffer; exitCode: number | null }, limits: Partial<SandboxLimits>, stdin: Buffer,
): Promise<RunVerdict> {
  const run = await runProgram(ctx, tc, exe, p, limits, p.nondeterminism === false ? undefined : CLOCK_A, stdin);
  if (run.verdict !== 'ok') return run;
  const exitMatters = p.compareExitCode !== false;
  if (!run.stdout.equals(ref.stdout) || (exitMatters && run.exitCode !== ref.exitCode)) {
    return { ...run, verdict: 'output-mismatch', message: describeDiff(ref, run) };
  }
  return run;
}

let boxParentPromise: Promise<string | undefined> | undefined;

/**
 * Where sandbox folders go. The sandbox runs as an unprivileged uid, which must be able to reach
 * the folder: the project's cache/tmp when every folder above it is searchable by others, else a
 * private folder under the system temp dir (a project under a 0700 home, such as /root).
 */
function boxParent(ctx: RunContext): Promise<string | undefined> {
  boxParentPromise ??= (async () => {
    if (process.getuid?.() !== 0 || (await reachableByOthers(ctx.projectRoot))) return undefined;
    const dir = path.join(os.tmpdir(), `asmgraph-boxes-${process.getuid?.() ?? 0}`);
    await fsp.mkdir(dir, { recursive: true, mode: 0o711 });
    await fsp.chmod(dir, 0o711);
    return dir;
  })();
  return boxParentPromise;
}

/** True when every folder from `dir` up to / can be traversed by other users. */
async function reachableByOthers(dir: string): Promise<boolean> {
  for (let d = dir; ; d = path.dirname(d)) {
    const st = await fsp.stat(d).catch(() => undefined);
    if (st && (st.mode & 0o001) === 0) return false;
    if (d === path.dirname(d)) return true;
  }
}

/** Runs a built program in the sandbox, in a fresh folder holding only the executable. */
async function runProgram(
  ctx: RunContext, tc: Toolchain, exe: string, p: ValidateParams, limits: Partial<SandboxLimits>, clock: Clock | undefined, stdin: Buffer,
): Promise<RunVerdict> {
  const parent = await boxParent(ctx);
  const box = parent ? await fsp.mkdtemp(path.join(parent, 'box-')) : await ctx.tmpdir();
  try {
    return await runInBox(ctx, tc, exe, box, limits, clock, stdin);
  } finally {
    if (parent) await fsp.rm(box, { recursive: true, force: true });
  }
}

async function runInBox(
  ctx: RunContext, tc: Toolchain, exe: string, box: string, limits: Partial<SandboxLimits>, clock: Clock | undefined, stdin: Buffer,
): Promise<RunVerdict> {
  await fsp.copyFile(exe, path.join(box, 'prog'));
  await fsp.chmod(path.join(box, 'prog'), 0o755);
  const r: SandboxResult = await runSandboxed({
    argv: [...tc.run, './prog'],
    dir: box,
    stdin,
    // With no input at all, a program that waits for some is stopped at once (a menu loop would
    // otherwise print until a limit); with a case, it gets end of input and goes on.
    onInputWait: stdin.length === 0 ? 'stop' : 'eof',
    ...(clock ? { faketime: clock.at, clockStep: clock.step } : {}),
    limits,
    signal: ctx.signal,
  });
  const o = r.outcome;
  const wait = r.inputWait ? { inputWait: r.inputWait } : {};
  switch (o.kind) {
    case 'exited':
      return { verdict: 'ok', message: '', stdout: r.stdout, exitCode: o.code, ...wait };
    case 'signaled':
      return { verdict: 'crash', message: `killed by ${o.signal}${stderrTail(r)}`, stdout: r.stdout, exitCode: null, ...wait };
    case 'timeout':
      return { verdict: 'timeout', message: `exceeded the ${o.limit === 'cpu' ? 'CPU' : 'wall-clock'} limit (${limits.wallMs} ms)`, stdout: r.stdout, exitCode: null, ...wait };
    case 'output-too-large':
      return { verdict: 'output-too-large', message: `${o.stream} exceeded the output limit`, stdout: r.inputWait ? r.stdout : Buffer.alloc(0), exitCode: null, ...wait };
    case 'waiting-for-input':
      return { verdict: 'needs-input', message: 'waits for more input than it was given', stdout: r.stdout.subarray(0, r.inputWait?.stdoutBytes ?? r.stdout.length), exitCode: null, ...wait };
    case 'aborted':
      throw new Error('interrupted');
  }
}

function stderrTail(r: SandboxResult): string {
  const t = r.stderr.toString('utf8').trim();
  return t ? `: ${firstLines(t, 3)}` : '';
}

function firstLines(s: string, n: number): string {
  return s.split('\n').slice(0, n).join('\n');
}

function quote(s: string): string {
  const t = s.length > 120 ? `${s.slice(0, 117)}…` : s;
  return JSON.stringify(t);
}

/** `expected "1 2 3", got "1 3 2"` at the first differing line, or the exit codes. */
export function describeDiff(expected: { stdout: Buffer; exitCode: number | null }, got: { stdout: Buffer; exitCode: number | null }): string {
  if (!expected.stdout.equals(got.stdout)) {
    const e = expected.stdout.toString('utf8').split('\n');
    const g = got.stdout.toString('utf8').split('\n');
    let i = 0;
    while (i < e.length && i < g.length && e[i] === g[i]) i++;
    return `line ${i + 1}: expected ${quote(e[i] ?? '<end of output>')}, got ${quote(g[i] ?? '<end of output>')}`;
  }
  return `exit code: expected ${expected.exitCode}, got ${got.exitCode}`;
}
