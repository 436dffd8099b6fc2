import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assemble,
  buildExecutable,
  buildFromAsm,
  compileToAsm,
  link,
  makeTempDir,
  removeDir,
  runExecutable,
} from '../tasks/lib/gxx.js';
import { buildPch, pchFileName, pchHeaderFor, preparePchDir } from '../tasks/lib/pch.js';
import { loadToolchain, type Toolchain } from '../tasks/lib/toolchain.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const FIXTURES = path.join(ROOT, 'test/fixtures/cpp');
const CORPUS = path.join(ROOT, 'sources');

function cppFiles(dir: string): { name: string; source: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpp'))
    .sort()
    .map((f) => ({ name: path.relative(ROOT, path.join(dir, f)), source: readFileSync(path.join(dir, f), 'utf8') }));
}

/** Runs `fn` over `items` with at most `n` in flight (2 cores are shared with other workers). */
async function pool<T, R>(items: T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

let tc: Toolchain;
beforeAll(async () => {
  tc = await loadToolchain(ROOT, 'x86_64');
});

describe('pchHeaderFor', () => {
  it('takes the first include when it is the first code', () => {
    expect(pchHeaderFor('#include <iostream>\nint main(){}\n')).toBe('iostream');
    expect(pchHeaderFor('// hi\n/* multi\n line */\n\n  #  include <bits/stdc++.h>  // all\nusing namespace std;')).toBe(
      'bits/stdc++.h',
    );
    expect(pchHeaderFor('#include <vector>\r\n#include <iostream>\r\n')).toBe('vector');
  });
  it('returns null when other code comes first, the header is light, or quoted', () => {
    expect(pchHeaderFor('#define X 1\n#include <iostream>\n')).toBeNull();
    expect(pchHeaderFor('#pragma once\n#include <iostream>\n')).toBeNull();
    expect(pchHeaderFor('#include "iostream"\n')).toBeNull();
    expect(pchHeaderFor('#include <cstdio>\n#include <iostream>\n')).toBeNull();
    expect(pchHeaderFor('int x;\n#include <iostream>\n')).toBeNull();
    expect(pchHeaderFor('// a comment with a continuation \\\n#include <iostream>\n')).toBeNull();
    expect(pchHeaderFor('#include <iostream>\n', ['vector'])).toBeNull();
  });
  it('maps bits/stdc++.h to a nested PCH path', () => {
    expect(pchFileName('bits/stdc++.h')).toBe('bits/stdc++.h.gch');
    expect(() => pchFileName('../etc/passwd')).toThrow();
  });
});

describe('compileToAsm', () => {
  it('is deterministic and never leaks the work directory', async () => {
    const src = readFileSync(path.join(FIXTURES, 'printf_only.cpp'), 'utf8');
    const [a, b] = await Promise.all([
      compileToAsm({ tc, source: src, flags: ['-O1'] }),
      compileToAsm({ tc, source: src, flags: ['-O1'] }),
    ]);
    expect(a.ok && b.ok).toBe(true);
    if (!a.ok || !b.ok) return;
    expect(a.asm).toBe(b.asm);
    expect(a.asm).toMatch(/^\t\.file\t"prog\.cpp"$/m);
    expect(a.asm).not.toMatch(/\/tmp\//);
  });

  it('returns compile errors as values', async () => {
    const r = await compileToAsm({ tc, source: 'int main( { return 0; }\n' });
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/prog\.cpp:1:.*error/);
  });

  it('aborts the compiler promptly', async () => {
    const ac = new AbortController();
    const src = readFileSync(path.join(FIXTURES, 'stdcxx.cpp'), 'utf8');
    const p = compileToAsm({ tc, source: src, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    // Without the abort this compile succeeds: a rejection proves it was stopped.
    await expect(p).rejects.toThrow(/abort/i);
  });
});

describe('assemble / link / run', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map(removeDir));
  });

  it('tells assemble errors from link errors', async () => {
    const bad = await assemble(tc, '\t.text\n\tbogus_op %rax\n');
    expect(bad.ok).toBe(false);
    expect(bad.ok ? '' : bad.stderr).toMatch(/bogus_op/);

    const unresolved =
      '\t.text\n\t.globl\tmain\n\t.type\tmain, @function\nmain:\n\tsubq\t$8, %rsp\n\tcall\tno_such_function@PLT\n\txorl\t%eax, %eax\n\taddq\t$8, %rsp\n\tret\n\t.section\t.note.GNU-stack,"",@progbits\n';
    const obj = await assemble(tc, unresolved);
    expect(obj.ok).toBe(true);
    if (!obj.ok) return;
    dirs.push(path.dirname(obj.objectPath));
    const l = await link(tc, obj.objectPath);
    expect(l.ok).toBe(false);
    expect(l.ok ? '' : l.stderr).toMatch(/undefined reference to `no_such_function'/);

    const both = await buildFromAsm(tc, unresolved);
    expect(both).toMatchObject({ ok: false, stage: 'link' });
  });

  it('builds the reference executable and runs it with stdin and a timeout', async () => {
    const echo = await buildExecutable(
      tc,
      '#include <iostream>\n#include <string>\nint main(){ std::string s; while (std::cin >> s) std::cout << s.size() << "\\n"; }\n',
      ['-O1'],
    );
    expect(echo.ok).toBe(true);
    if (!echo.ok) return;
    dirs.push(path.dirname(echo.exePath));
    const r = await runExecutable(tc, echo.exePath, { stdin: 'a bb ccc\n' });
    expect(r).toMatchObject({ code: 0, stdout: '1\n2\n3\n', timedOut: false });

    const spin = await buildExecutable(tc, 'int main(){ for(;;){ asm volatile(""); } }\n');
    expect(spin.ok).toBe(true);
    if (!spin.ok) return;
    dirs.push(path.dirname(spin.exePath));
    const s = await runExecutable(tc, spin.exePath, { timeoutMs: 300 });
    expect(s.timedOut).toBe(true);
    expect(s.signal).toBe('SIGKILL');
  });
});

describe('precompiled headers', () => {
  // Every corpus program plus our fixtures: the test is meaningful while the corpus is still empty.
  const programs = [...cppFiles(CORPUS), ...cppFiles(FIXTURES)];
  const pchDirs: Record<string, string> = {};
  const FLAG_SETS: Record<string, string[]> = { O0: ['-O0'], O2: ['-O2'] };
  // -O2 only on a few programs (the PCH must be rebuilt for it: flags must match exactly).
  const O2_PROGRAMS = new Set(
    programs
      .filter((p) => pchHeaderFor(p.source) === 'iostream')
      .slice(0, 3)
      .map((p) => p.name),
  );

  beforeAll(async () => {
    // Build each needed PCH once per flag set.
    const needed = new Map<string, { opt: string; header: string }>();
    for (const p of programs) {
      const header = pchHeaderFor(p.source);
      if (!header) continue;
      needed.set(`O0 ${header}`, { opt: 'O0', header });
      if (O2_PROGRAMS.has(p.name)) needed.set(`O2 ${header}`, { opt: 'O2', header });
    }
    for (const opt of Object.keys(FLAG_SETS)) pchDirs[opt] = await makeTempDir(`asmgraph-pch-${opt}-`);
    const results = await pool([...needed.values()], 2, ({ opt, header }) =>
      buildPch(tc, FLAG_SETS[opt]!, header, pchDirs[opt]!),
    );
    for (const r of results) expect(r).toMatchObject({ ok: true });
  }, 300_000);
  afterAll(async () => {
    await Promise.all(Object.values(pchDirs).map(removeDir));
  });

  it('builds bits/stdc++.h into a nested directory', () => {
    expect(existsSync(path.join(pchDirs.O0!, 'bits', 'stdc++.h.gch'))).toBe(true);
    expect(existsSync(path.join(pchDirs.O0!, 'iostream.gch'))).toBe(true);
  });

  it('gives byte-identical assembly with and without PCH, and the PCH is really used', async () => {
    const jobs = programs.flatMap((p) => {
      const opts = O2_PROGRAMS.has(p.name) ? ['O0', 'O2'] : ['O0'];
      return opts.map((opt) => ({ ...p, opt }));
    });
    let withPch = 0;
    await pool(jobs, 1, async ({ name, source, opt }) => {
      const flags = FLAG_SETS[opt]!;
      const header = pchHeaderFor(source);
      if (!header) return; // nothing to compare: no PCH applies
      const [plain, pch] = await Promise.all([
        compileToAsm({ tc, source, flags }),
        // -H (reportPch) proves the PCH was used; the next test shows -H leaves the .s unchanged.
        compileToAsm({ tc, source, flags, pchDir: pchDirs[opt], reportPch: true }),
      ]);
      expect(plain.ok, `${name} ${opt}: ${plain.stderr}`).toBe(true);
      expect(pch.ok, `${name} ${opt}: ${pch.stderr}`).toBe(true);
      expect(pch.pchUsed, `${name} ${opt}: PCH for <${header}> not used: ${pch.stderr}`).toBe(true);
      expect(pch.stderr).toBe(plain.stderr);
      if (!plain.ok || !pch.ok) return;
      expect(pch.asm === plain.asm, `${name} ${opt}: .s differs with PCH`).toBe(true);
      withPch++;
    });
    expect(withPch).toBeGreaterThanOrEqual(5);
  }, 600_000);

  it('works from a symlinked .gch (blob store layout) via preparePchDir', async () => {
    const source = readFileSync(path.join(FIXTURES, 'hello.cpp'), 'utf8');
    const dir = await makeTempDir('asmgraph-pchlink-');
    try {
      await preparePchDir('iostream', path.join(pchDirs.O0!, 'iostream.gch'), dir);
      const [plain, linked] = await Promise.all([
        compileToAsm({ tc, source, flags: ['-O0'] }),
        compileToAsm({ tc, source: source + '#include <iostream>\n', flags: ['-O0'], pchDir: dir, reportPch: true }),
      ]);
      // A second include of the same header goes through the fallback, not a fatal error.
      expect(linked).toMatchObject({ ok: true, pchUsed: true, stderr: '' });
      expect(plain.ok && linked.ok && plain.asm === linked.asm).toBe(true);
    } finally {
      await removeDir(dir);
    }
  });

  it('-H does not change the output', async () => {
    const source = readFileSync(path.join(FIXTURES, 'hello.cpp'), 'utf8');
    const a = await compileToAsm({ tc, source, flags: ['-O0'], pchDir: pchDirs.O0 });
    const b = await compileToAsm({ tc, source, flags: ['-O0'], pchDir: pchDirs.O0, reportPch: true });
    expect(a.ok && b.ok && a.asm === b.asm).toBe(true);
    expect(a.stderr).toBe('');
  });

  it('reports a PCH rejected for different flags, and still compiles correctly', async () => {
    const source = readFileSync(path.join(FIXTURES, 'hello.cpp'), 'utf8');
    const plain = await compileToAsm({ tc, source, flags: ['-O1'] });
    const r = await compileToAsm({ tc, source, flags: ['-O1'], pchDir: pchDirs.O0, reportPch: true });
    expect(r.ok).toBe(true);
    expect(r.pchUsed).toBe(false);
    expect(r.stderr).toMatch(/iostream\.gch: not used because .*\[-Winvalid-pch\]/);
    expect(plain.ok && r.ok && plain.asm === r.asm).toBe(true);
  });
});
