/**
 * `validate`: does the assembly assemble, link and run like the C++?
 *
 * The reference is the C++ built by the same toolchain and flags, run in the sandbox with the
 * declared stdin. With the nondeterminism check (the default) it runs at one clock (faketime) and
 * a second build with -ftrivial-auto-var-init=pattern runs at another, so a program whose output
 * depends on uninitialised memory or the time is `nondeterministic`. The reference is a cached
 * artifact per (toolchain, flags, program, stdin, limits): re-validating a changed .s does not
 * rebuild it. When an input is the compiler's own `-S` output for these flags (compile's
 * `compiledAs`), the reference is linked from it rather than compiled again, and a candidate that
 * is that very file shares the reference's run.
 *
 * The candidate (`from`, usually the cleaned .s) is assembled and linked as the seed did
 * (`g++ prog.s -o prog`) and run the same way. If it fails and a `raw` input is given (the
 * uncleaned .s), the raw one is validated instead and, if it passes, kept with the reason the
 * cleaned one was refused.
 *
 * Verdicts: ok, compile-error, assemble-error, link-error, crash, timeout, output-mismatch,
 * nondeterministic, output-too-large — each with the tool's message.
 */
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
}

const CLOCK_A = '2001-02-03 04:05:06';
const CLOCK_B = '2019-11-12 13:14:15';

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
      stdin: { type: 'string', description: 'Standard input for every run (default empty).' },
      timeoutMs: { type: 'integer', minimum: 100, description: 'Wall-clock limit per run (default 5000).' },
      memoryMB: { type: 'integer', minimum: 16, description: 'Address-space limit per run (default 1024).' },
      compareExitCode: { type: 'boolean', description: 'Exit codes must match too (default true).' },
      nondeterminism: { type: 'boolean', description: 'Detect time- and uninitialised-memory-dependent output (default true).' },
    },
  },
  reads: { from: ['s'], raw: ['s'], source: ['src'] },
  outputs: () => [
    { name: 's', ext: '.s' },
    { name: 'expected', ext: '.expected.txt' },
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
    const ref = await reference(ctx, tc, p, src, limits, refFlags, refAsm);
    const expected = ref.stdout;
    if (ref.verdict !== 'ok') {
      return { status: 'rejected', reason: ref.verdict, message: `the C++ program itself: ${ref.message}`, files: { expected } };
    }

    // The reference's first run is of the compiler's own assembly for these flags. A candidate
    // that is that very file gives the same executable and the same run (same bytes, stdin, limits
    // and clock), so that run is its run.
    const check = (file: FileRef, text: string): Promise<RunVerdict> =>
      refAsm?.hash === file.hash ? Promise.resolve({ verdict: 'ok', message: '', stdout: ref.stdout, exitCode: ref.exitCode }) : checkAssembly(ctx, tc, p, text, ref, limits);
    const asm = (await ctx.read(cand.files.s)).toString('utf8');
    const first = await check(cand.files.s, asm);
    const rawRef = input.inputs.raw?.files.s;
    // compile already counted its output's tokens: reuse them (o200k on 50 KB of assembly is not free).
    const counted = (v: { meta: JsonObject } | undefined, text: () => Promise<string>) =>
      typeof v?.meta.tokens === 'number' ? Promise.resolve(v.meta.tokens) : text().then(countTokensAsync);
    if (first.verdict === 'ok') {
      const tokens = await counted(cand, async () => asm);
      const meta: JsonObject = { verdict: 'ok', variant: rawRef && rawRef.hash !== cand.files.s.hash ? 'clean' : 'raw', tokens, exitCode: ref.exitCode };
      if (rawRef) meta.tokensRaw = await counted(input.inputs.raw, async () => (await ctx.read(rawRef)).toString('utf8'));
      return { status: 'ok', files: { s: asm, expected }, meta };
    }
    if (rawRef && rawRef.hash !== cand.files.s.hash) {
      const raw = (await ctx.read(rawRef)).toString('utf8');
      const second = await check(rawRef, raw);
      if (second.verdict === 'ok') {
        ctx.log(`cleaned assembly refused (${first.verdict}): ${first.message}`);
        const rawTokens = await counted(input.inputs.raw, async () => raw);
        return {
          status: 'ok',
          files: { s: raw, expected },
          meta: { verdict: 'ok', variant: 'raw', cleanRejected: first.verdict, cleanMessage: firstLines(first.message, 3), tokens: rawTokens, tokensRaw: rawTokens, exitCode: ref.exitCode },
        };
      }
      return { status: 'rejected', reason: second.verdict, message: second.message, files: withActual(expected, second) };
    }
    return { status: 'rejected', reason: first.verdict, message: first.message, files: withActual(expected, first) };
  },
};

function withActual(expected: Buffer, v: RunVerdict): Record<string, Buffer> {
  return v.verdict === 'output-mismatch' ? { expected, actual: v.stdout } : { expected };
}

interface Reference extends RunVerdict {
  runMs?: number;
}

/**
 * The C++ program's own behaviour: a cached artifact per (toolchain, flags, source, stdin, limits).
 *
 * The program is built with the validate flags and run (at clock A with the nondeterminism check).
 * `g++ prog.cpp -o prog` is `g++ -S` followed by assembling and linking its output, so when an
 * input holds the compiler's own `-S` output for these flags (`rawAsm`), the reference is linked
 * from that file instead of compiling the C++ a second time; the artifact is the same either way,
 * so the route is not part of its key. With the nondeterminism check, a second build with
 * `-ftrivial-auto-var-init=pattern` runs at clock B: an uninitialised read or a clock-dependent
 * output makes the two disagree.
 */
async function reference(
  ctx: RunContext, tc: Toolchain, p: ValidateParams, src: string, limits: Partial<SandboxLimits>, flags: string[], rawAsm?: FileRef,
): Promise<Reference> {
  const nondet = p.nondeterminism !== false;
  const art = await ctx.artifact(
    'reference',
    { toolchain: ctx.identity.toolchain ?? null, sandbox: ctx.identity.sandbox ?? null, flags, src, stdin: p.stdin ?? '', limits: limits as JsonObject, nondet, version: '2' },
    async (dir) => {
      const buildError = async (b: { stderr: string }) => {
        await fsp.writeFile(path.join(dir, 'stdout'), '');
        return { files: ['stdout'], meta: { verdict: 'compile-error', message: b.stderr.trim().slice(0, 4000), exitCode: null } };
      };
      let pchDir: string | undefined;
      const fromSource = async (extra: string[]) => {
        pchDir ??= await pchFor(ctx, tc, flags, src);
        return buildExecutable(tc, src, [...flags, ...extra], { dir: await fsp.mkdtemp(path.join(dir, 'build-')), pchDir, signal: ctx.signal });
      };
      // A failure to link the compiler's own output is the C++'s failure too (e.g. a function
      // declared and called but never defined), so it is reported the same way.
      const primary = rawAsm
        ? await buildFromAsm(tc, (await ctx.read(rawAsm)).toString('utf8'), { dir: await fsp.mkdtemp(path.join(dir, 'build-')), signal: ctx.signal })
        : await fromSource([]);
      if (!primary.ok) return buildError(primary);
      const a = await runProgram(ctx, tc, primary.exePath, p, limits, nondet ? CLOCK_A : undefined);
      let verdict: Verdict = a.verdict;
      let message = a.message;
      if (nondet && a.verdict === 'ok') {
        const patterned = await fromSource(['-ftrivial-auto-var-init=pattern']);
        if (!patterned.ok) return buildError(patterned);
        const b = await runProgram(ctx, tc, patterned.exePath, p, limits, CLOCK_B);
        if (b.verdict !== 'ok' || !a.stdout.equals(b.stdout) || a.exitCode !== b.exitCode) {
          verdict = 'nondeterministic';
          message = `output changes between runs (uninitialised memory or the clock): ${describeDiff(a, b)}`;
        }
      }
      await fsp.writeFile(path.join(dir, 'stdout'), a.stdout);
      return { files: ['stdout'], meta: { verdict, message, exitCode: a.exitCode } };
    },
  );
  return {
    verdict: art.meta.verdict as Verdict,
    message: String(art.meta.message ?? ''),
    stdout: await fsp.readFile(art.paths.stdout),
    exitCode: art.meta.exitCode as number | null,
  };
}

/**
 * Assembles, links and runs `asm` in the sandbox and compares it with the reference behaviour.
 * Also used by the eval kind for model-written assembly.
 */
export async function checkAssembly(
  ctx: RunContext, tc: Toolchain, p: ValidateParams, asm: string,
  ref: { stdout: Buffer; exitCode: number | null }, limits: Partial<SandboxLimits>,
): Promise<RunVerdict> {
  const work = await ctx.tmpdir();
  const b = await buildFromAsm(tc, asm, { dir: work, signal: ctx.signal });
  if (!b.ok) {
    return { verdict: b.stage === 'assemble' ? 'assemble-error' : 'link-error', message: b.stderr.trim(), stdout: Buffer.alloc(0), exitCode: null };
  }
  const run = await runProgram(ctx, tc, b.exePath, p, limits, p.nondeterminism === false ? undefined : CLOCK_A);
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
async function runProgram(ctx: RunContext, tc: Toolchain, exe: string, p: ValidateParams, limits: Partial<SandboxLimits>, clock?: string): Promise<RunVerdict> {
  const parent = await boxParent(ctx);
  const box = parent ? await fsp.mkdtemp(path.join(parent, 'box-')) : await ctx.tmpdir();
  try {
    return await runInBox(ctx, tc, exe, box, p, limits, clock);
  } finally {
    if (parent) await fsp.rm(box, { recursive: true, force: true });
  }
}

async function runInBox(ctx: RunContext, tc: Toolchain, exe: string, box: string, p: ValidateParams, limits: Partial<SandboxLimits>, clock?: string): Promise<RunVerdict> {
  await fsp.copyFile(exe, path.join(box, 'prog'));
  await fsp.chmod(path.join(box, 'prog'), 0o755);
  const r: SandboxResult = await runSandboxed({
    argv: [...tc.run, './prog'],
    dir: box,
    stdin: p.stdin ?? '',
    faketime: clock,
    limits,
    signal: ctx.signal,
  });
  const o = r.outcome;
  switch (o.kind) {
    case 'exited':
      return { verdict: 'ok', message: '', stdout: r.stdout, exitCode: o.code };
    case 'signaled':
      return { verdict: 'crash', message: `killed by ${o.signal}${stderrTail(r)}`, stdout: r.stdout, exitCode: null };
    case 'timeout':
      return { verdict: 'timeout', message: `exceeded the ${o.limit === 'cpu' ? 'CPU' : 'wall-clock'} limit (${limits.wallMs} ms)`, stdout: r.stdout, exitCode: null };
    case 'output-too-large':
      return { verdict: 'output-too-large', message: `${o.stream} exceeded the output limit`, stdout: Buffer.alloc(0), exitCode: null };
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
