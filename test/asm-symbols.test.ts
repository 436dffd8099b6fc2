/**
 * The symbol filters (rename, directives) and .cfi_* for programs that catch nothing, on real
 * g++ output: the cleaned file must assemble, link and behave exactly like the C++, be shorter,
 * and keep every name another object or libstdc++ must see.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { allFilters, cleanAsm, countTokens, FILTERS_V1 } from '../tasks/lib/asm-clean.js';
import { renamable } from '../tasks/lib/asm-symbols.js';
import { programCatches } from '../tasks/compile.js';
import { buildExecutable, buildFromAsm, compileToAsm, removeDir, runExecutable } from '../tasks/lib/gxx.js';
import { loadToolchain, type Toolchain } from '../tasks/lib/toolchain.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const read = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8');

let tc: Toolchain;
const dirs: string[] = [];
beforeAll(async () => {
  tc = await loadToolchain(ROOT, 'x86_64');
});
afterAll(async () => {
  await Promise.all(dirs.map(removeDir));
});

async function flaggedAsm(source: string, opt: string): Promise<string> {
  const r = await compileToAsm({ tc, source, flags: [opt, ...tc.cleanFlags] });
  if (!r.ok) throw new Error(r.stderr);
  return r.asm;
}

async function run(asmOrSource: string, isAsm: boolean) {
  const b = isAsm ? await buildFromAsm(tc, asmOrSource) : await buildExecutable(tc, asmOrSource, ['-O0']);
  if (!b.ok) throw new Error(b.stderr);
  dirs.push(path.dirname(b.exePath));
  const r = await runExecutable(tc, b.exePath, { timeoutMs: 10_000 });
  return { exe: b.exePath, code: r.code, stdout: r.stdout };
}

const FILES: [string, string][] = [
  ['test/fixtures/variants/inventory.cpp', '-O0'],
  ['test/fixtures/variants/inventory.cpp', '-Os'],
  ['test/fixtures/cpp/replace_new.cpp', '-O0'],
  ['test/fixtures/cpp/stdcxx.cpp', '-O0'],
  ['test/fixtures/cpp/exceptions.cpp', '-O0'],
];

describe('rename + directives + cfi on real programs', () => {
  it.each(FILES)('%s %s behaves exactly like the C++ and is shorter', async (file, opt) => {
    const source = read(file);
    const flagged = await flaggedAsm(source, opt);
    const older = cleanAsm(flagged, { ...Object.fromEntries(FILTERS_V1.map((f) => [f, true])), noExceptions: !programCatches(source) });
    const all = cleanAsm(flagged, allFilters(!programCatches(source)));
    const [ref, got] = await Promise.all([run(source, false), run(all.asm, true)]);
    expect(got).toMatchObject({ code: ref.code, stdout: ref.stdout });
    expect(countTokens(all.asm)).toBeLessThan(countTokens(older.asm));
    // No C++ symbol the file defines stays global except what must: operator new/delete and std data.
    const globals = (await $`nm --defined-only -g ${got.exe}`.quiet()).stdout.split('\n').map((l) => l.split(' ').pop()!).filter((n) => n.startsWith('_Z') && !n.includes('@')); // name@VERSION: a copy of libstdc++'s data (std::cout)
    expect(globals.filter((n) => renamable(n, true))).toEqual([]);
    expect(all.asm).toMatch(/\.globl\s+main\b/);
    if (file.endsWith('exceptions.cpp')) {
      // It catches: its unwind tables stay.
      expect(all.asm).toMatch(/\.cfi_personality/);
    } else {
      expect(all.asm).not.toMatch(/\.cfi_|gcc_except_table/);
      expect(all.renamed).toBeGreaterThan(0);
    }
  });

  it('keeps a replaced operator new global: libstdc++ allocates through it', async () => {
    const source = read('test/fixtures/cpp/replace_new.cpp');
    const all = cleanAsm(await flaggedAsm(source, '-O0'), allFilters(true));
    expect(all.asm).toMatch(/^_Znwm:/m);
    expect(all.asm).toMatch(/\.globl\s+_Znwm/);
    const got = await run(all.asm, true);
    expect(got.stdout).toBe('4950 40 1\n');
  });

  it('renames at -O0 cut the bundled-style template program by well over a third', async () => {
    const source = read('test/fixtures/variants/inventory.cpp');
    const raw = (await compileToAsm({ tc, source, flags: ['-O0'] }));
    if (!raw.ok) throw new Error(raw.stderr);
    const all = cleanAsm(await flaggedAsm(source, '-O0'), allFilters(true));
    expect(countTokens(all.asm) / countTokens(raw.asm)).toBeLessThan(0.65);
  });

  it.each(['aarch64', 'riscv64'])('%s (under qemu): the same filters, with the target\'s own directive syntax', async (name) => {
    const cross = await loadToolchain(ROOT, name);
    const source = read('test/fixtures/variants/inventory.cpp');
    const r = await compileToAsm({ tc: cross, source, flags: ['-O0', ...cross.cleanFlags] });
    if (!r.ok) throw new Error(r.stderr);
    const all = cleanAsm(r.asm, allFilters(!programCatches(source)));
    expect(all.renamed).toBeGreaterThan(100);
    expect(all.asm).not.toMatch(/^\s*\.type\s+F\d+/m);
    expect(countTokens(all.asm) / countTokens(r.asm)).toBeLessThan(0.5);
    const ref = await buildExecutable(cross, source, ['-O0']);
    const got = await buildFromAsm(cross, all.asm);
    if (!ref.ok || !got.ok) throw new Error(!ref.ok ? ref.stderr : !got.ok ? got.stderr : '');
    dirs.push(path.dirname(ref.exePath), path.dirname(got.exePath));
    const [a, b] = await Promise.all([runExecutable(cross, ref.exePath, { timeoutMs: 30_000 }), runExecutable(cross, got.exePath, { timeoutMs: 30_000 })]);
    expect(b.stdout).toBe(a.stdout);
    expect(b.code).toBe(a.code);
    expect(a.stdout).toContain('cecilia 24');
  });

  it('never renames C names, operator new/delete or std data objects', () => {
    expect(renamable('main', false)).toBe(false);
    expect(renamable('helper', false)).toBe(false);
    expect(renamable('_Znwm', false)).toBe(false);
    expect(renamable('_ZdlPvm', false)).toBe(false);
    expect(renamable('_ZNSt6vectorIiSaIiEE9push_backERKi', false)).toBe(true);
    expect(renamable('_ZNSt8ios_base4InitE', true)).toBe(false);
    expect(renamable('_ZTV5Shape', true)).toBe(true);
  });

  it('a program that throws but never catches may drop its unwind tables; one that catches may not', () => {
    expect(programCatches('int main(){ throw 1; }')).toBe(false);
    expect(programCatches('int main(){ try { throw 1; } catch (int) {} }')).toBe(true);
    expect(programCatches('// catch in a comment\nint main(){ return 0; }')).toBe(false);
  });
});
