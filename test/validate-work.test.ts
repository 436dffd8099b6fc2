/**
 * What `validate` actually runs. The toolchain's compiler is a wrapper around the real g++ that
 * logs every call, so the tests see each compile and link:
 *  - the reference is linked from compile's own `-S` output (no second C++ compile), and a
 *    candidate that is that very file shares the reference's run;
 *  - the nondeterminism check adds exactly one C++ build, with -ftrivial-auto-var-init=pattern,
 *    linked with gold (only the check runs it; the candidate keeps the toolchain's linker), and
 *    with the toolchain's own linker again where gold fails;
 *  - a program whose C++ compiles but does not link is the C++'s failure (compile-error);
 *  - without a compile input to lean on, the reference is compiled from the C++;
 *  - the driver's temporary files go to the work folder (TMPDIR), not the system temp dir.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTokens } from '../tasks/lib/tokens.js';
import { makeProject, REPO, runCli, summaryOf, toolchainFiles, type CliResult } from './support/cli.js';

const FIXTURES = path.join(REPO, 'test/fixtures/validate');

const PIPELINE = `version: 1
targets:
  programs: { kind: files, params: { glob: "src/*.cpp" } }
  asm: { kind: compile, from: programs, params: { toolchain: logged } }
  cleaned: { kind: compile, from: programs, params: { toolchain: logged, clean: true } }
  # like the benchmark's peers: one reference, no nondeterminism check, the raw .s as candidate
  plain:
    kind: validate
    from: asm
    with: { source: programs }
    params: { toolchain: logged, nondeterminism: false }
  # the default pipeline's shape: cleaned candidate, raw fallback, nondeterminism check
  checked:
    kind: validate
    from: cleaned
    with: { raw: asm, source: programs }
    params: { toolchain: logged }
  # the candidate is not compile's output for the validate flags (-O1 vs -O0): compile the C++
  # (another time limit, so plain's cached reference is not reused)
  o1: { kind: compile, from: programs, params: { toolchain: logged, opt: O1 } }
  mixed:
    kind: validate
    from: o1
    with: { source: programs }
    params: { toolchain: logged, nondeterminism: false, timeoutMs: 3000 }
  # a toolchain whose driver reports gold but whose gold links fail
  asm-nogold: { kind: compile, from: programs, params: { toolchain: nogold } }
  checked-nogold:
    kind: validate
    from: asm-nogold
    with: { source: programs }
    params: { toolchain: nogold }
`;

const UNLINKABLE = `#include <cstdio>
int helper(int x);
int main() { std::printf("%d\\n", helper(2)); }
`;

let dir = '';

interface Call {
  tmpdir: string;
  args: string;
}

async function calls(): Promise<Call[]> {
  const text = await fsp.readFile(path.join(dir, 'gxx.log'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => {
    const [tmpdir, args] = l.split('\t');
    return { tmpdir: tmpdir!, args: args! };
  });
}

/** The calls of one build, classified. */
function kinds(list: Call[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of list) {
    let k: string;
    if (/(^| )-S( |$)/.test(c.args)) k = c.args.includes('-O1') ? 'asm -O1' : 'asm';
    else if (/ prog\.cpp -o prog( |$)/.test(c.args)) k = c.args.includes('-ftrivial-auto-var-init=pattern') ? 'c++ build (pattern)' : 'c++ build';
    else if (/^prog\.s -o prog( |$)/.test(c.args)) k = 'link prog.s';
    else if (/^-c prog\.s/.test(c.args)) k = 'assemble';
    else if (/(^|\/)prog\.o -o prog/.test(c.args)) k = 'link prog.o';
    else if (c.args.includes('c++-header')) k = 'pch';
    else continue; // --version, -dumpmachine
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

async function build(target: string): Promise<{ r: CliResult; calls: Call[] }> {
  await fsp.rm(path.join(dir, 'gxx.log'), { force: true });
  const r = await runCli(dir, ['--json', target]);
  expect(r.code, r.stderr).toBe(0);
  return { r, calls: await calls() };
}

function node(r: CliResult, id: string): Record<string, any> {
  const e = r.events.find((x) => x.type === 'node-done' && x.id === id);
  if (!e) throw new Error(`no event for ${id}`);
  return e;
}

beforeAll(async () => {
  const hello = await fsp.readFile(path.join(FIXTURES, 'ok_hello.cpp'), 'utf8');
  dir = await makeProject({ 'pipeline.yaml': PIPELINE, 'src/hello.cpp': hello, 'src/unlinkable.cpp': UNLINKABLE, ...(await toolchainFiles()) });
  // Reachable by the sandbox uid, so its boxes stay in the project.
  await fsp.chmod(dir, 0o755);
  const wrapper = path.join(dir, 'bin', 'g++');
  await fsp.mkdir(path.dirname(wrapper));
  await fsp.writeFile(wrapper, `#!/bin/sh\nprintf '%s\\t%s\\n' "$TMPDIR" "$*" >> '${path.join(dir, 'gxx.log')}'\nexec g++ "$@"\n`, { mode: 0o755 });
  const x86 = await fsp.readFile(path.join(dir, 'toolchain', 'x86_64.yaml'), 'utf8');
  await fsp.writeFile(path.join(dir, 'toolchain', 'logged.yaml'), x86.replace(/^name: .*$/m, 'name: logged').replace(/^cxx: .*$/m, `cxx: ${wrapper}`));
  // Logs like the other, answers gold's --version, but fails every real link with gold.
  const nogold = path.join(dir, 'bin', 'g++-nogold');
  await fsp.writeFile(nogold, `#!/bin/sh
printf '%s\t%s\n' "$TMPDIR" "$*" >> '${path.join(dir, 'gxx.log')}'
case " $* " in
  *" -Wl,--version "*) ;;
  *" -fuse-ld=gold "*) echo "ld.gold: fatal error: out of luck" >&2; exit 1;;
esac
exec g++ "$@"
`, { mode: 0o755 });
  await fsp.writeFile(path.join(dir, 'toolchain', 'nogold.yaml'), x86.replace(/^name: .*$/m, 'name: nogold').replace(/^cxx: .*$/m, `cxx: ${nogold}`));
}, 60_000);

afterAll(async () => {
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe('what validate runs', () => {
  it('like the peers (no nondeterminism check): one -S, one link, no second C++ compile', async () => {
    const { r, calls: list } = await build('plain');
    expect(node(r, 'plain/hello')).toMatchObject({ status: 'ok', meta: { verdict: 'ok', variant: 'raw' } });
    // hello: -S, then its reference is linked from that .s; the candidate is the same file, so
    // it shares the reference's run. unlinkable: -S, the link fails and is split to classify it.
    expect(kinds(list)).toEqual({ pch: 1, asm: 2, 'link prog.s': 2, assemble: 1, 'link prog.o': 1 });
    // The shared run is of an executable linked as the dataset promises: no other linker.
    expect(list.filter((c) => c.args.includes('prog') && c.args.includes('-fuse-ld'))).toEqual([]);
    expect(await fsp.readFile(path.join(dir, 'build/plain/hello.expected.txt'), 'utf8')).toBe('hello 1 2 3\n');
    // Token counts come from the helper process and agree with counting here.
    const asm = await fsp.readFile(path.join(dir, 'build/asm/hello.s'), 'utf8');
    expect(node(r, 'asm/hello').meta.tokens).toBe(countTokens(asm));
    expect(node(r, 'plain/hello').meta.tokens).toBe(countTokens(asm));
    expect(r.stderr).not.toContain('token-count helper');
  });

  it('a C++ program that compiles but does not link is rejected as its own compile-error', async () => {
    const { r } = await build('plain');
    expect(node(r, 'plain/unlinkable')).toMatchObject({ status: 'rejected', reason: 'compile-error' });
    const message = await fsp.readFile(path.join(dir, 'build/plain/unlinkable.rejected.txt'), 'utf8');
    expect(message).toContain('undefined reference to `helper(int)');
    // The message names prog.o, not a random temp object of the driver.
    expect(message).toContain('prog.o');
    expect(message).not.toMatch(/\/cc\w+\.o/);
    expect(summaryOf(r).executed).toBe(0); // cached from the first test
  });

  it('default shape: the nondeterminism check adds one pattern-initialised C++ build; the cleaned candidate is linked', async () => {
    const { r, calls: list } = await build('checked');
    expect(node(r, 'checked/hello')).toMatchObject({ status: 'ok', meta: { verdict: 'ok', variant: 'clean' } });
    // asm is cached from the tests above; per program: cleaned -S; hello: reference link from
    // asm's .s, the pattern build, the cleaned candidate's link; unlinkable: the failed link
    // split in two (and no pattern build: the first build already failed).
    expect(kinds(list)).toEqual({ pch: 1, asm: 2, 'link prog.s': 3, 'c++ build (pattern)': 1, assemble: 1, 'link prog.o': 1 });
    expect(node(r, 'checked/unlinkable')).toMatchObject({ status: 'rejected', reason: 'compile-error' });
    // The executables only the check runs link with gold: the pattern build and (the candidate is
    // the cleaned file, which shares no run) each program's reference; the candidate keeps the
    // toolchain's linker.
    const pattern = list.filter((c) => c.args.includes('-ftrivial-auto-var-init=pattern') && / prog\.cpp -o prog/.test(c.args));
    expect(pattern.map((c) => c.args.includes('-fuse-ld=gold'))).toEqual([true]);
    const links = list.filter((c) => /^prog\.s -o prog/.test(c.args));
    expect(links.map((c) => c.args).sort()).toEqual(['prog.s -o prog', 'prog.s -o prog -fuse-ld=gold', 'prog.s -o prog -fuse-ld=gold']);
  });

  it('where gold fails, the pattern build is linked again with the toolchain\'s own linker and the verdict stands', async () => {
    const { r, calls: list } = await build('checked-nogold');
    expect(node(r, 'checked-nogold/hello')).toMatchObject({ status: 'ok', meta: { verdict: 'ok' } });
    const pattern = list.filter((c) => c.args.includes('-ftrivial-auto-var-init=pattern') && / prog\.cpp -o prog/.test(c.args));
    expect(pattern.map((c) => c.args.includes('-fuse-ld=gold'))).toEqual([true, false]);
    expect(await fsp.readFile(path.join(dir, 'build/checked-nogold/hello.expected.txt'), 'utf8')).toBe('hello 1 2 3\n');
  });

  it('a candidate built with other flags: the reference is compiled from the C++', async () => {
    const { r, calls: list } = await build('mixed');
    expect(node(r, 'mixed/hello')).toMatchObject({ status: 'ok', meta: { verdict: 'ok' } });
    // hello: -S -O1; the -O0 reference from the C++ (its PCH is already built; linked with gold,
    // as no candidate shares its run), then the -O1 candidate's link. unlinkable: -S -O1, and its
    // reference build fails (the C++ itself), with gold and then with the toolchain's linker.
    expect(kinds(list)).toMatchObject({ 'asm -O1': 2, 'c++ build': 3, 'link prog.s': 1 });
    expect(node(r, 'mixed/unlinkable')).toMatchObject({ status: 'rejected', reason: 'compile-error' });
  });

  it("every g++ call had TMPDIR set to its work folder inside the project's cache", async () => {
    const all = await calls();
    const work = all.filter((c) => c.args.includes('prog'));
    expect(work.length).toBeGreaterThan(0);
    for (const c of work) expect(path.relative(path.join(dir, 'cache'), c.tmpdir)).not.toMatch(/^\.\.|^\//);
  });
});
