/**
 * The program-run check that validate, inputs and eval share: the C++ program's own behaviour on
 * an input (`reference`, a cached artifact, with the nondeterminism check on stepped fake clocks)
 * and a candidate's assembly assembled, linked, run in the sandbox (`RunContext.sandbox`) and
 * compared with it (`checkAssembly`, `checkExecutable`), with the verdicts they give.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { FileRef, JsonObject, PrepareContext, RunContext } from '../../src/task-api.js';
import { sandboxIdentity } from '../../src/sandbox/index.js';
import type { SandboxLimits, SandboxResult } from '../../src/sandbox/sandbox.js';
import { buildExecutable, buildFromAsm } from './gxx.js';
import { pchFor, toolchainFor, type CompileParams } from './cxx-params.js';
import { checkLinkFlags, toolchainIdentity, type Toolchain } from './toolchain.js';

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

/**
 * The identity a kind that runs programs returns from `prepare`: its toolchain's and the build's
 * sandbox's (the bubblewrap sandbox's when none is given: its identity does not depend on its folders).
 */
export async function programRunIdentity(ctx: PrepareContext): Promise<JsonObject> {
  const tc = await toolchainFor(ctx);
  return { toolchain: await toolchainIdentity(tc, ctx.facts), sandbox: await (ctx.sandbox ? ctx.sandbox.identity(ctx.facts) : sandboxIdentity(ctx.facts)) };
}

/** The parameters of the run check (validate's, picked by inputs and eval). */
export const checkParamsSchema: JsonObject = {
  stdin: {
    type: 'string',
    description: 'Standard input of a program that has no test case (default empty); cases beside the program or from `with.inputs` win.',
  },
  timeoutMs: { type: 'integer', minimum: 100, description: 'Wall-clock limit per run (default 5000).' },
  memoryMB: { type: 'integer', minimum: 16, description: 'Address-space limit per run (default 1024).' },
  compareExitCode: { type: 'boolean', description: 'Exit codes must match too (default true).' },
  nondeterminism: { type: 'boolean', description: 'Detect time- and uninitialised-memory-dependent output (default true).' },
};

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
 * Executables that only this check runs link with gold where the toolchain has it
 * (`checkLinkFlags`): the pattern-filled build below, and the first build too when the caller says
 * no candidate shares its run (`sharedWithCandidate: false`; validate, when its candidate is not
 * the compiler's own `.s`). A run that is shared is of an executable linked as the dataset
 * promises (`<cxx> prog.s -o prog`). Where gold fails, the toolchain's own linker decides.
 *
 * Nondeterminism: a second build with `-ftrivial-auto-var-init=pattern` runs on clock B. When the
 * two disagree, the first build runs again on clock A (a difference there: the output varies
 * between identical runs) and on clock B (a difference: it depends on the time); otherwise it is
 * the uninitialised memory. The message says which. A compiler without that option (GCC before
 * 12; its toolchain identity has `noAutoVarInit`) runs its one build on clock B instead: the time
 * is still checked, uninitialised memory is not, and validate's meta says so (`uninitialisedCheck`).
 */
export async function reference(
  ctx: RunContext, tc: Toolchain, p: ValidateParams, src: string, stdin: Buffer, limits: Partial<SandboxLimits>, flags: string[], rawAsm?: FileRef,
  builds: ReferenceBuilds = new Map(),
  opts: { sharedWithCandidate?: boolean } = {},
): Promise<Reference> {
  const nondet = p.nondeterminism !== false;
  // The pattern-filled build is only ever run by this check: it links with the faster linker.
  // So does the first build, unless a candidate is to share its run (it must then be linked the
  // way the dataset promises: `<cxx> prog.s -o prog`).
  const fast = nondet || opts.sharedWithCandidate === false ? await checkLinkFlags(tc) : [];
  const checkLink = nondet ? fast : [];
  const primaryLink = opts.sharedWithCandidate === false ? fast : [];
  const art = await ctx.artifact(
    'reference',
    {
      toolchain: ctx.identity.toolchain ?? null, sandbox: ctx.identity.sandbox ?? null, flags, src,
      stdin: stdin.length <= 256 ? stdin.toString('latin1') : { sha256: sha256(stdin), size: stdin.length },
      limits: limits as JsonObject, nondet, checkLink, primaryLink, version: '4',
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
      const fromSource = (extra: string[], extraLinkFlags: string[] = []) =>
        memo(`src ${extra.join(' ')} ${extraLinkFlags.join(' ')}`, async (into) => {
          const opts = { dir: into, pchDir: await pchFor(ctx, tc, flags, src), signal: ctx.signal };
          const built = await buildExecutable(tc, src, [...flags, ...extra], { ...opts, extraLinkFlags });
          // The faster linker is an optimisation: where it fails, the toolchain's own linker decides.
          return built.ok || extraLinkFlags.length === 0 ? built : buildExecutable(tc, src, [...flags, ...extra], opts);
        });
      // A failure to link the compiler's own output is the C++'s failure too (e.g. a function
      // declared and called but never defined), so it is reported the same way.
      const primary = rawAsm
        ? await memo(`asm ${rawAsm.hash} ${primaryLink.join(' ')}`, async (into) => buildFromAsm(tc, (await ctx.read(rawAsm)).toString('utf8'), { dir: into, signal: ctx.signal, extraLinkFlags: primaryLink }))
        : await fromSource([], primaryLink);
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
        const patterned = (ctx.identity.toolchain as JsonObject | undefined)?.noAutoVarInit ? primary : await fromSource(['-ftrivial-auto-var-init=pattern'], checkLink);
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
export async function checkExecutable(
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

/** Runs a built program in the sandbox, in a fresh folder holding only the executable (the sandbox says where). */
async function runProgram(
  ctx: RunContext, tc: Toolchain, exe: string, p: ValidateParams, limits: Partial<SandboxLimits>, clock: Clock | undefined, stdin: Buffer,
): Promise<RunVerdict> {
  const box = await ctx.sandbox.box(() => ctx.tmpdir());
  try {
    return await runInBox(ctx, tc, exe, box.dir, limits, clock, stdin);
  } finally {
    await box.release();
  }
}

async function runInBox(
  ctx: RunContext, tc: Toolchain, exe: string, box: string, limits: Partial<SandboxLimits>, clock: Clock | undefined, stdin: Buffer,
): Promise<RunVerdict> {
  await fsp.copyFile(exe, path.join(box, 'prog'));
  await fsp.chmod(path.join(box, 'prog'), 0o755);
  const r: SandboxResult = await ctx.sandbox.run({
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

export function firstLines(s: string, n: number): string {
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
