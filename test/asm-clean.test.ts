import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allFilters, cleanAsm, countTokens, FILTERS, usesExceptions } from '../tasks/lib/asm-clean.js';
import { buildExecutable, buildFromAsm, compileToAsm, removeDir, runExecutable } from '../tasks/lib/gxx.js';
import { loadToolchain, type Toolchain } from '../tasks/lib/toolchain.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const fixture = (name: string) => readFileSync(path.join(ROOT, 'test/fixtures/cpp', name), 'utf8');

let tc: Toolchain;
const dirs: string[] = [];
beforeAll(async () => {
  tc = await loadToolchain(ROOT, 'x86_64');
});
afterAll(async () => {
  await Promise.all(dirs.map(removeDir));
});

async function asmOf(source: string, flags: string[]): Promise<string> {
  const r = await compileToAsm({ tc, source, flags });
  if (!r.ok) throw new Error(r.stderr);
  return r.asm;
}

/** Assembles, links and runs; returns what the program did plus the link diagnostics. */
async function runAsm(asm: string) {
  const b = await buildFromAsm(tc, asm);
  if (!b.ok) return { built: false as const, stage: b.stage, stderr: b.stderr };
  dirs.push(path.dirname(b.exePath));
  const r = await runExecutable(tc, b.exePath, { timeoutMs: 10_000 });
  return { built: true as const, linkStderr: b.stderr, code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

async function reference(source: string, flags: string[]) {
  const b = await buildExecutable(tc, source, flags);
  if (!b.ok) throw new Error(b.stderr);
  dirs.push(path.dirname(b.exePath));
  const r = await runExecutable(tc, b.exePath, { timeoutMs: 10_000 });
  return { code: r.code, stdout: r.stdout };
}

describe('cleanAsm filters (synthetic input)', () => {
  const sample = [
    '\t.file\t"prog.cpp"',
    '\t.file 1 "prog.cpp"',
    '# a comment line',
    '\t// another comment',
    '\t.text   ',
    '\t.section\t.rodata',
    '.LC0:',
    '\t.string\t"x .LC9 y"',
    '\t.text',
    '\t.globl\tmain',
    'main:',
    '.LFB0:',
    '\t.cfi_startproc',
    '#APP',
    '# 3 "prog.cpp" 1',
    '\tnop',
    '# 0 "" 2',
    '#NO_APP',
    '\tleaq\t.LC0(%rip), %rdi',
    '\tjmp\t*.L4(,%rax,8)',
    '.L4:',
    '\t.quad\t.L3',
    '.L3:',
    '.L7:\tret',
    '\t.cfi_endproc',
    '.LFE0:',
    '\t.ident\t"GCC: (Debian 12.2.0-14+deb12u1) 12.2.0"',
    '\t.section\t.note.GNU-stack,"",@progbits',
    '\t.section\t.note.gnu.property,"a"',
    '\t.align 8',
    '\t.long\t1f - 0f',
    '0:',
    '\t.string\t"GNU"',
    '1:',
    '\t.section\t.text.more,"ax",@progbits',
    'more:\tret',
    '',
  ].join('\n');

  it('applies each filter separately', () => {
    const count = (o: Parameters<typeof cleanAsm>[1]) => cleanAsm(sample, o).removed;
    expect(count({ commentLines: true }).commentLines).toBe(4); // not #APP / #NO_APP
    expect(count({ appMarkers: true }).appMarkers).toBe(2);
    expect(count({ fileDirective: true }).fileDirective).toBe(1); // `.file 1 "..."` stays
    expect(count({ ident: true }).ident).toBe(1);
    expect(count({ trailingSpace: true }).trailingSpace).toBe(1);
    expect(count({ gnuProperty: true }).gnuProperty).toBe(6);
    expect(count({ cfi: true, noExceptions: true }).cfi).toBe(2);
    // .LC0, .L4, .L3 are referenced; .LFB0, .LFE0, .L7 are not (.LC9 only appears in a string).
    expect(count({ unusedLabels: true }).unusedLabels).toBe(3);
  });

  it('keeps what must stay', () => {
    const r = cleanAsm(sample, allFilters(true));
    expect(r.asm).toContain('\t.section\t.note.GNU-stack,"",@progbits');
    expect(r.asm).toContain('\t.file 1 "prog.cpp"');
    expect(r.asm).toMatch(/^\.LC0:$/m);
    expect(r.asm).toMatch(/^\.L4:$/m);
    expect(r.asm).toMatch(/^\.L3:$/m);
    expect(r.asm).toMatch(/^\tret$/m); // `.L7:\tret` keeps its instruction
    expect(r.asm).toContain('\t.section\t.text.more,"ax",@progbits\nmore:\tret\n');
    expect(r.asm).not.toMatch(/\.LFB0|\.LFE0|\.cfi_|\.ident|#APP|gnu\.property|comment/);
    expect(r.asm.endsWith('\n')).toBe(true);
  });

  it('refuses to strip .cfi_* unless the caller says there are no exceptions', () => {
    for (const opts of [{ cfi: true }, { cfi: true, noExceptions: false }, allFilters(false)]) {
      const r = cleanAsm(sample, opts);
      expect(r.asm).toContain('.cfi_startproc');
      expect(r.removed.cfi).toBe(0);
      expect(r.refused.cfi).toMatch(/exceptions/);
    }
  });

  it('counts o200k tokens', () => {
    expect(countTokens('')).toBe(0);
    expect(countTokens('\tmovl\t$0, %eax\n')).toBeGreaterThan(3);
  });
});

describe('usesExceptions', () => {
  it('detects throw/catch (also inside templates) and exception-feature tests', async () => {
    const [exc, hello, tmpl, macro] = await Promise.all([
      usesExceptions(tc, fixture('exceptions.cpp')),
      usesExceptions(tc, fixture('hello.cpp')),
      usesExceptions(tc, 'template<class T> T f(T x){ if (x < 0) throw x; return x; }\nint main(){ return f(1); }\n'),
      usesExceptions(tc, 'int main(){\n#if __cpp_exceptions\n return 1;\n#endif\n return 0; }\n'),
    ]);
    expect({ exc, hello, tmpl, macro }).toEqual({ exc: true, hello: false, tmpl: true, macro: true });
  });
});

describe('cleaned assembly still builds and behaves identically', () => {
  const cases: [string, string][] = [
    ['hello.cpp', '-O0'],
    ['exceptions.cpp', '-O0'],
    ['exceptions.cpp', '-O2'],
    ['jump_table.cpp', '-O2'],
    ['inline_asm.cpp', '-O1'],
  ];
  const savings: string[] = [];
  afterAll(() => {
    console.log(`token savings (raw → flags → flags+filters):\n${savings.join('\n')}`);
  });

  it.each(cases)('%s %s', async (name, opt) => {
    const source = fixture(name);
    const noExceptions = !(await usesExceptions(tc, source));
    const [ref, raw, flagged] = await Promise.all([
      reference(source, [opt]),
      asmOf(source, [opt]),
      asmOf(source, [opt, ...tc.cleanFlags]),
    ]);
    const cleaned = cleanAsm(flagged, allFilters(noExceptions));
    expect(cleaned.asm).toContain('.note.GNU-stack');
    if (name === 'exceptions.cpp') {
      expect(noExceptions).toBe(false);
      expect(cleaned.asm).toMatch(/\.cfi_personality/);
      expect(cleaned.refused.cfi).toBeDefined();
    } else {
      expect(cleaned.asm).not.toMatch(/\.cfi_/);
    }
    if (name === 'inline_asm.cpp') expect(cleaned.removed.appMarkers).toBeGreaterThan(0);

    const [a, b] = await Promise.all([runAsm(raw), runAsm(cleaned.asm)]);
    for (const r of [a, b]) {
      expect(r, JSON.stringify(r)).toMatchObject({ built: true, code: 0, stdout: ref.stdout });
      if (r.built) expect(r.linkStderr).not.toMatch(/executable stack/);
    }
    const [tRaw, tFlags, tClean] = [countTokens(raw), countTokens(flagged), countTokens(cleaned.asm)];
    expect(tClean).toBeLessThan(tRaw);
    expect(tClean).toBeLessThanOrEqual(tFlags);
    savings.push(`${name} ${opt}: ${tRaw} → ${tFlags} → ${tClean} (-${(100 * (1 - tClean / tRaw)).toFixed(1)}%)`);
  });
});

describe('documented traps', () => {
  it('stripping .cfi_* from the exception program breaks it (so cleanAsm keeps them)', async () => {
    const source = fixture('exceptions.cpp');
    const flagged = await asmOf(source, ['-O0', ...tc.cleanFlags]);
    // Force the strip by lying about exceptions: the program must then die in std::terminate.
    const forced = cleanAsm(flagged, { cfi: true, noExceptions: true });
    expect(forced.removed.cfi).toBeGreaterThan(0);
    const r = await runAsm(forced.asm);
    expect(r.built).toBe(true);
    if (!r.built) return;
    expect(r.code === 134 || r.signal === 'SIGABRT').toBe(true);
    expect(r.stderr).toMatch(/terminate called/);
  });

  it('without .note.GNU-stack ld warns about an executable stack (the check above is meaningful)', async () => {
    const asm = await asmOf(fixture('printf_only.cpp'), ['-O1']);
    const stripped = asm.replace(/^.*\.note\.GNU-stack.*\n/m, '');
    expect(stripped).not.toContain('GNU-stack');
    const r = await runAsm(stripped);
    expect(r.built).toBe(true);
    if (r.built) expect(r.linkStderr).toMatch(/executable stack/);
  });

  it('removes the .note.gnu.property block emitted by -fcf-protection=full; still links and runs', async () => {
    const source = fixture('printf_only.cpp');
    const asm = await asmOf(source, ['-O1', '-fcf-protection=full']);
    expect(asm).toContain('.note.gnu.property');
    const c = cleanAsm(asm, { gnuProperty: true });
    expect(c.removed.gnuProperty).toBeGreaterThan(5);
    expect(c.asm).not.toContain('.note.gnu.property');
    expect(c.asm).toContain('.note.GNU-stack');
    const r = await runAsm(c.asm);
    expect(r).toMatchObject({ built: true, code: 0, stdout: '1 squared is 1\n2 squared is 4\n3 squared is 9\n' });
  });

  it('every filter is known', () => {
    expect([...FILTERS].sort()).toEqual(
      ['appMarkers', 'cfi', 'commentLines', 'directives', 'fileDirective', 'gnuProperty', 'ident', 'rename', 'trailingSpace', 'unusedLabels'].sort(),
    );
  });
});
