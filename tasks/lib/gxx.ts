/**
 * g++ wrappers: C++ → assembly, assembly → object → executable, reference builds, running.
 *
 * Every step works in a directory where the program is always called `prog.cpp` / `prog.s` /
 * `prog.o` / `prog`, so no caller path leaks into the output (`.file "prog.cpp"`) and identical
 * programs give identical bytes. Expected failures (compile, assemble, link errors) are values;
 * a missing compiler/runner throws InfraError; an aborted `signal` rejects with the abort reason
 * after killing the child's whole process group.
 *
 * Effective compile flags are always `[...tc.flags, ...flags]` (here, in buildExecutable and in
 * buildPch), so a PCH built with the same `flags` matches the compile.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runTool, type Toolchain } from './toolchain.js';
import type { RunResult } from './proc.js';

export const SOURCE_NAME = 'prog.cpp';
export const ASM_NAME = 'prog.s';
export const OBJECT_NAME = 'prog.o';
export const EXE_NAME = 'prog';

/** A fresh temporary directory (the caller removes it, e.g. with `removeDir`). */
export function makeTempDir(prefix = 'asmgraph-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface StepOptions {
  /**
   * Directory to work in (e.g. from `ctx.tmpdir()`); files named prog.* inside it are overwritten.
   * When omitted, a fresh temp dir is created: for compileToAsm it is removed afterwards; for the
   * steps that return paths it is the dirname of the returned path and the caller removes it.
   */
  dir?: string;
  signal?: AbortSignal;
}

export interface CompileOptions extends StepOptions {
  tc: Toolchain;
  source: string;
  /** Extra flags after `tc.flags` (e.g. `-O2`, `...tc.cleanFlags`). */
  flags?: string[];
  /** Directory with `<header>.gch` from `buildPch` built with the same flags. */
  pchDir?: string;
  /**
   * Adds `-H` and reports whether a PCH was used (`pchUsed`); the `-H` include listing is removed
   * from the returned stderr.
   */
  reportPch?: boolean;
}

export type CompileResult =
  | { ok: true; asm: string; stderr: string; pchUsed?: boolean }
  | { ok: false; stderr: string; pchUsed?: boolean };

/** The argv of the `-S` compile (without the working directory), for logs and tests. */
export function compileArgv(tc: Toolchain, flags: string[] = [], pchDir?: string, reportPch = false): string[] {
  const argv = [tc.cxx, '-S'];
  if (pchDir) argv.push('-I', pchDir, '-Winvalid-pch');
  if (reportPch) argv.push('-H');
  argv.push(...tc.flags, ...flags, SOURCE_NAME, '-o', ASM_NAME);
  return argv;
}

/** Splits `-H` output (include tree, PCH markers, include-guard hints) from real diagnostics. */
export function splitIncludeTrace(stderr: string): { stderr: string; pchUsed: boolean; pchRejected: boolean } {
  const keep: string[] = [];
  let pchUsed = false;
  let pchRejected = false;
  let inGuardList = false;
  let afterPch = false;
  for (const line of stderr.split('\n')) {
    if (/^!+ \S/.test(line)) {
      pchUsed = true;
      afterPch = true;
      continue;
    }
    // After a used PCH, -H repeats the main file name indented by one space.
    if (afterPch && /^ \S+$/.test(line)) {
      afterPch = false;
      continue;
    }
    afterPch = false;
    if (/^x+ \S/.test(line)) {
      pchRejected = true;
      continue;
    }
    if (/^\.+ \S/.test(line)) continue;
    if (line === 'Multiple include guards may be useful for:') {
      inGuardList = true;
      continue;
    }
    if (inGuardList && /^\/\S*$/.test(line)) continue;
    inGuardList = false;
    keep.push(line);
  }
  return { stderr: keep.join('\n'), pchUsed, pchRejected };
}

/** C++ source → assembly text with `<cxx> -S <tc.flags> <flags> prog.cpp -o prog.s`. */
export async function compileToAsm(opts: CompileOptions): Promise<CompileResult> {
  const own = opts.dir === undefined;
  const dir = opts.dir ?? (await makeTempDir());
  try {
    await writeFile(path.join(dir, SOURCE_NAME), opts.source);
    const argv = compileArgv(opts.tc, opts.flags, opts.pchDir, opts.reportPch);
    const r = await runTool(opts.tc, argv, { cwd: dir, signal: opts.signal });
    let stderr = r.stderr;
    let pchUsed: boolean | undefined;
    if (opts.reportPch) {
      const s = splitIncludeTrace(stderr);
      stderr = s.stderr;
      pchUsed = s.pchUsed;
    }
    if (r.code !== 0) {
      return { ok: false, stderr: stderr || `${opts.tc.cxx} exited with ${r.code ?? r.signal}`, pchUsed };
    }
    const asm = await readFile(path.join(dir, ASM_NAME), 'utf8');
    return pchUsed === undefined ? { ok: true, asm, stderr } : { ok: true, asm, stderr, pchUsed };
  } finally {
    if (own) await removeDir(dir);
  }
}

export type AssembleResult = { ok: true; objectPath: string; stderr: string } | { ok: false; stderr: string };
export type LinkResult = { ok: true; exePath: string; stderr: string } | { ok: false; stderr: string };

/** Assembly text → `prog.o` via the toolchain driver (`<cxx> -c prog.s -o prog.o`). */
export async function assemble(tc: Toolchain, asmText: string, opts: StepOptions = {}): Promise<AssembleResult> {
  const dir = opts.dir ?? (await makeTempDir());
  await writeFile(path.join(dir, ASM_NAME), asmText);
  const r = await runTool(tc, [tc.cxx, '-c', ASM_NAME, '-o', OBJECT_NAME], { cwd: dir, signal: opts.signal });
  if (r.code !== 0) {
    if (opts.dir === undefined) await removeDir(dir);
    return { ok: false, stderr: r.stderr || `${tc.cxx} -c exited with ${r.code ?? r.signal}` };
  }
  return { ok: true, objectPath: path.join(dir, OBJECT_NAME), stderr: r.stderr };
}

/**
 * Object → executable the way the seed did: the C++ driver (`<cxx> prog.o -o prog <linkFlags>`),
 * default PIE, libstdc++ linked. The executable is written next to the object unless `dir` is set.
 */
export async function link(tc: Toolchain, objectPath: string, opts: StepOptions = {}): Promise<LinkResult> {
  const dir = opts.dir ?? path.dirname(objectPath);
  const r = await runTool(tc, [tc.cxx, objectPath, '-o', EXE_NAME, ...tc.linkFlags], { cwd: dir, signal: opts.signal });
  if (r.code !== 0) return { ok: false, stderr: r.stderr || `${tc.cxx} (link) exited with ${r.code ?? r.signal}` };
  return { ok: true, exePath: path.join(dir, EXE_NAME), stderr: r.stderr };
}

export type AsmBuildResult =
  | { ok: true; exePath: string; stderr: string }
  | { ok: false; stage: 'assemble' | 'link'; stderr: string };

/**
 * Assembly → executable as the seed did, in one driver call (`<cxx> prog.s -o prog <linkFlags>`).
 * Only when that fails is the work split (`-c`, then the link of `prog.o`) to tell an
 * `assemble-error` from a `link-error` and to get messages that name `prog.o` rather than the
 * driver's random temp object. `extraLinkFlags` (a faster linker for a check's own executable)
 * apply to the one call only: the split steps use the toolchain's link as it is.
 */
export async function buildFromAsm(tc: Toolchain, asmText: string, opts: StepOptions & { extraLinkFlags?: string[] } = {}): Promise<AsmBuildResult> {
  const own = opts.dir === undefined;
  const step = { ...opts, dir: opts.dir ?? (await makeTempDir()) };
  await writeFile(path.join(step.dir, ASM_NAME), asmText);
  const r = await runTool(tc, [tc.cxx, ASM_NAME, '-o', EXE_NAME, ...tc.linkFlags, ...(opts.extraLinkFlags ?? [])], { cwd: step.dir, signal: opts.signal });
  if (r.code === 0) return { ok: true, exePath: path.join(step.dir, EXE_NAME), stderr: r.stderr };
  const a = await assemble(tc, asmText, step);
  if (!a.ok) {
    if (own) await removeDir(step.dir);
    return { ok: false, stage: 'assemble', stderr: a.stderr };
  }
  const l = await link(tc, a.objectPath, step);
  if (!l.ok) {
    if (own) await removeDir(step.dir);
    return { ok: false, stage: 'link', stderr: l.stderr };
  }
  // The split steps succeeded where the single call did not (a transient failure): use them.
  return { ok: true, exePath: l.exePath, stderr: [a.stderr, l.stderr].filter(Boolean).join('\n') };
}

export type BuildResult = { ok: true; exePath: string; stderr: string } | { ok: false; stderr: string };

/** Reference build of the C++ itself: `<cxx> <tc.flags> <flags> prog.cpp -o prog <linkFlags>`. */
export async function buildExecutable(
  tc: Toolchain,
  source: string,
  flags: string[] = [],
  opts: StepOptions & { pchDir?: string; extraLinkFlags?: string[] } = {},
): Promise<BuildResult> {
  const dir = opts.dir ?? (await makeTempDir());
  await writeFile(path.join(dir, SOURCE_NAME), source);
  const argv = [tc.cxx];
  if (opts.pchDir) argv.push('-I', opts.pchDir, '-Winvalid-pch');
  argv.push(...tc.flags, ...flags, SOURCE_NAME, '-o', EXE_NAME, ...tc.linkFlags, ...(opts.extraLinkFlags ?? []));
  const r = await runTool(tc, argv, { cwd: dir, signal: opts.signal });
  if (r.code !== 0) {
    if (opts.dir === undefined) await removeDir(dir);
    return { ok: false, stderr: r.stderr || `${tc.cxx} exited with ${r.code ?? r.signal}` };
  }
  return { ok: true, exePath: path.join(dir, EXE_NAME), stderr: r.stderr };
}

/** argv to run a built program on this toolchain's target (`[...tc.run, exePath, ...args]`). */
export function runArgv(tc: Toolchain, exePath: string, args: string[] = []): string[] {
  return [...tc.run, exePath, ...args];
}

export interface ExecOptions {
  args?: string[];
  /** stdin bytes; /dev/null when omitted. */
  stdin?: string | Uint8Array;
  timeoutMs?: number;
  cwd?: string;
  signal?: AbortSignal;
  maxOutput?: number;
}

/**
 * Runs a built program (through qemu for cross targets). No sandboxing here: the validator wraps
 * this with its own isolation. A missing runner throws InfraError naming `runPackage`.
 */
export function runExecutable(tc: Toolchain, exePath: string, opts: ExecOptions = {}): Promise<RunResult> {
  return runTool(tc, runArgv(tc, exePath, opts.args), {
    cwd: opts.cwd ?? path.dirname(exePath),
    input: opts.stdin,
    timeoutMs: opts.timeoutMs ?? 10_000,
    signal: opts.signal,
    maxOutput: opts.maxOutput ?? 16 * 1024 * 1024,
  });
}
