/**
 * One `g++ -S` per program for the raw and the cleaned variant (tasks/lib/clean-flags.ts): the
 * cleaned file is the raw compile minus the lines the toolchain's cleanFlags remove, once the first
 * programs have proven that for this compiler; a compiler that disagrees keeps compiling twice.
 * Real g++ behind a wrapper that logs every `-S` call.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, REPO, runCli } from './support/cli.js';
import { PROOF_PROGRAMS, withoutCleanFlagLines } from '../tasks/lib/clean-flags.js';
import { loadToolchain } from '../tasks/lib/toolchain.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

/**
 * A g++ that logs its `-S` calls (not the PCH builds) and runs the real one; with `marker`, a
 * compile with -fno-ident gets one more line, as a compiler whose cleanFlags do more than remove
 * lines would.
 */
const wrapper = (log: string, marker: boolean) => `#!/bin/sh
case " $* " in *" -S "*) echo "$*" >> '${log}';; esac
/usr/bin/g++ "$@" || exit $?
${marker ? `case " $* " in *" -S "*-fno-ident*) printf '\\t.set\\tonly_with_fno_ident, 1\\n' >> prog.s;; esac` : ''}
`;

const PROGRAMS: Record<string, string> = {
  hello: '#include <iostream>\nint main() { std::cout << "hello\\n"; }\n',
  squares: '#include <cstdio>\nint main() { int s = 0; for (int i = 1; i <= 10; ++i) s += i * i; std::printf("%d\\n", s); }\n',
  words: '#include <iostream>\n#include <string>\n#include <vector>\nint main() { std::vector<std::string> w{"b", "a"}; for (auto& x : w) std::cout << x << "\\n"; }\n',
  fact: '#include <cstdio>\nstatic long f(int n) { return n < 2 ? 1 : n * f(n - 1); }\nint main() { std::printf("%ld\\n", f(12)); }\n',
  caught: '#include <cstdio>\n#include <stdexcept>\nint main() { try { throw std::runtime_error("x"); } catch (const std::exception& e) { std::puts(e.what()); } }\n',
};

async function project(marker: boolean): Promise<{ dir: string; calls: () => Promise<string[]> }> {
  const files: Record<string, string> = {};
  for (const [n, src] of Object.entries(PROGRAMS)) files[`src/${n}.cpp`] = src;
  const dir = await makeProject(files);
  dirs.push(dir);
  await fsp.chmod(dir, 0o755);
  const log = path.join(dir, 'gxx.log');
  const gxx = path.join(dir, 'bin/g++');
  await fsp.mkdir(path.dirname(gxx), { recursive: true });
  await fsp.writeFile(gxx, wrapper(log, marker), { mode: 0o755 });
  const native = readFileSync(path.join(REPO, 'toolchain/x86_64.yaml'), 'utf8').replace(/^cxx: g\+\+$/m, `cxx: ${gxx}`);
  await fsp.mkdir(path.join(dir, 'toolchain'));
  await fsp.writeFile(path.join(dir, 'toolchain/x86_64.yaml'), native);
  // The facts are remembered under the compiler's stamp, which a file written in the last 2 s has not.
  const past = new Date(Date.now() - 60_000);
  await fsp.utimes(gxx, past, past);
  await fsp.writeFile(path.join(dir, 'pipeline.yaml'), `version: 1
default: [validated]
targets:
  programs: { kind: files, params: { glob: "src/*.cpp" } }
  asm: { kind: compile, from: programs, params: { opt: O0 } }
  cleaned: { kind: compile, from: programs, params: { opt: O0, clean: true } }
  validated: { kind: validate, from: cleaned, with: { raw: asm, source: programs }, params: { opt: O0 } }
`);
  const calls = async () => (await fsp.readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  return { dir, calls };
}

describe('one compile for the raw and the cleaned variant', () => {
  it("g++ 12's cleanFlags only remove lines: the derived text is the flagged compile, byte for byte, over the bundled corpus", async () => {
    const tc = await loadToolchain(REPO, 'x86_64');
    const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-cleanflags-'));
    dirs.push(work);
    const sources = (await fsp.readdir(path.join(REPO, 'sources'))).filter((f) => f.endsWith('.cpp')).slice(0, 12);
    for (const f of sources) {
      await fsp.copyFile(path.join(REPO, 'sources', f), path.join(work, 'prog.cpp'));
      for (const opt of ['-O0', '-Os']) {
        execFileSync('g++', ['-S', ...tc.flags, opt, 'prog.cpp', '-o', 'raw.s'], { cwd: work });
        execFileSync('g++', ['-S', ...tc.flags, opt, ...tc.cleanFlags, 'prog.cpp', '-o', 'clean.s'], { cwd: work });
        const raw = await fsp.readFile(path.join(work, 'raw.s'), 'utf8');
        expect(withoutCleanFlagLines(raw, tc.cleanFlags), `${f} ${opt}`).toBe(await fsp.readFile(path.join(work, 'clean.s'), 'utf8'));
        expect(raw).toMatch(/\.ident\s/);
      }
    }
  });

  it('removes endbr64 and the CET property note for -fcf-protection=none (a compiler that enables CET by default)', () => {
    const cet = ['\t.text', 'main:', '\tendbr64', '\tnotrack jmp\t*%rax', '\tret', '\t.ident\t"GCC: (Ubuntu 13.2.0-23ubuntu4) 13.2.0"', '\t.section\t.note.GNU-stack,"",@progbits',
      '\t.section\t.note.gnu.property,"a"', '\t.align 8', '\t.long\t1f - 0f', '0:', '\t.string\t"GNU"', '1:', ''].join('\n');
    expect(withoutCleanFlagLines(cet, ['-fcf-protection=none', '-fno-ident'])).toBe(['\t.text', 'main:', '\tjmp\t*%rax', '\tret', '\t.section\t.note.GNU-stack,"",@progbits', ''].join('\n'));
    expect(withoutCleanFlagLines(cet, ['-fno-ident', '-mno-red-zone'])).toBeUndefined();
  });

  it('compiles each program once after the first ones prove it, and every cleaned file still validates', async () => {
    const { dir, calls } = await project(false);
    const n = Object.keys(PROGRAMS).length;
    const r = await runCli(dir, ['-j', '1']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const first = await calls();
    // One raw compile per program, and the flagged compile for the programs of the proof only.
    expect(first.filter((c) => !c.includes('-fno-ident'))).toHaveLength(n);
    expect(first.filter((c) => c.includes('-fno-ident'))).toHaveLength(PROOF_PROGRAMS);
    for (const p of Object.keys(PROGRAMS)) {
      const s = await fsp.readFile(path.join(dir, 'build/validated', `${p}.s`), 'utf8');
      expect(s).not.toMatch(/\.ident\s/);
    }
    // Remembered: after an edit of every program, no flagged compile at all.
    for (const p of Object.keys(PROGRAMS)) await fsp.appendFile(path.join(dir, 'src', `${p}.cpp`), '// edited\n');
    const again = await runCli(dir, ['-j', '2']);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    const second = (await calls()).slice(first.length);
    expect(second.filter((c) => !c.includes('-fno-ident'))).toHaveLength(n);
    expect(second.filter((c) => c.includes('-fno-ident'))).toHaveLength(0);
    const shown = await runCli(dir, ['show', 'cleaned/hello']);
    expect(shown.stdout).toContain('applied by removing the lines they remove (proven for this compiler)');
  });

  it('a compiler whose cleanFlags change more than lines is caught by the proof and keeps compiling twice', async () => {
    const { dir, calls } = await project(true);
    const n = Object.keys(PROGRAMS).length;
    const r = await runCli(dir, ['-j', '1']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const c = await calls();
    expect(c.filter((x) => !x.includes('-fno-ident'))).toHaveLength(n);
    expect(c.filter((x) => x.includes('-fno-ident'))).toHaveLength(n);
    // Every cleaned file is the flagged compiler's own output (its extra line is there).
    for (const p of Object.keys(PROGRAMS)) {
      expect(await fsp.readFile(path.join(dir, 'build/cleaned', `${p}.s`), 'utf8')).toContain('\t.set\tonly_with_fno_ident, 1');
    }
  });
});
