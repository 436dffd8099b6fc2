/**
 * Programs with their own headers: `#include "stack.hpp"` and `#include "../utils.h"` resolve
 * from the program's folder, each header is inlined once, in order, and that self-contained
 * text is what is compiled, validated and shown in the example. A recursive glob finds programs
 * beside their headers, and a header change rebuilds exactly the programs that include it.
 */
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, outcomes, REPO, runCli, toolchainFiles } from './support/cli.js';

const FIX = path.join(REPO, 'test/fixtures/local-headers');
const fx = (rel: string) => readFileSync(path.join(FIX, rel), 'utf8');

const PIPELINE = `version: 1
targets:
  programs: { kind: files, params: { glob: "sources/**/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } } }
  asm: { kind: compile, from: programs }
  cleaned: { kind: compile, from: programs, params: { clean: true } }
  validated: { kind: validate, from: cleaned, with: { raw: asm, source: programs } }
  dataset: { kind: dataset, from: validated, with: { source: programs }, params: { validFraction: 0 } }
`;

let dir = '';
beforeAll(async () => {
  const files: Record<string, string> = { 'pipeline.yaml': PIPELINE, ...(await toolchainFiles()) };
  for (const rel of ['utils.h', 'stack/stack.hpp', 'stack/main.cpp', 'graph/paths.cpp', 'plain.cpp']) files[`sources/${rel}`] = fx(rel);
  for (const stem of ['stack/main', 'graph/paths', 'plain']) files[`sources/${stem}.prompt.txt`] = `Write ${stem}.\n`;
  dir = await makeProject(files);
  await fsp.chmod(dir, 0o755);
});
afterAll(async () => {
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

const examples = async () =>
  (await fsp.readFile(path.join(dir, 'build/train.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).messages[2].content as string);

describe('local headers', () => {
  it('are looked for beside C and C++ sources only: a glob of other files searches no folder for headers', async () => {
    const d = await makeProject({
      'pipeline.yaml': 'version: 1\ntargets:\n  programs: { kind: files, params: { glob: "*.cpp" } }\n  notes: { kind: files, params: { glob: "notes.yaml" } }\n',
      'main.cpp': '#include "util.h"\nint main() { return answer() - 42; }\n',
      'util.h': 'inline int answer() { return 42; }\n',
      'notes.yaml': 'a: 1\n',
    });
    try {
      const r = await runCli(d, ['--json', '--dry-run', 'programs', 'notes']);
      expect(r.code, r.stderr).toBe(0);
      const watch = (t: string) => r.events.find((e) => e.type === 'source-scanned' && e.target === t)?.watch as string[];
      expect(watch('programs').some((w) => w.includes('*.{h,'))).toBe(true);
      expect(watch('notes')).toContain('notes.yaml');
      expect(watch('notes').some((w) => w.includes('*.{h,'))).toBe(false);
    } finally {
      await fsp.rm(d, { recursive: true, force: true });
    }
  });

  it('compile and validate with the program folder on the include path; the example shows every header once, in order', async () => {
    const r = await runCli(dir, ['--json', '-j', '2', 'dataset']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
    expect(report.verdicts).toEqual({ ok: 3 });
    expect(report.examples.total).toBe(3);
    expect(await fsp.readFile(path.join(dir, 'build/validated/stack/main.expected.txt'), 'utf8')).toBe('sum of squares: 55\n');
    expect(await fsp.readFile(path.join(dir, 'build/validated/graph/paths.expected.txt'), 'utf8')).toBe('lattice paths: 252\n');
    const stack = (await examples()).find((a) => a.includes('struct Stack'))!;
    // stack.hpp, which itself includes ../utils.h first; the program's own second include of it is not repeated.
    const iUtils = stack.indexOf('inline void print_line');
    const iStack = stack.indexOf('struct Stack');
    expect(iUtils).toBeGreaterThan(0);
    expect(iUtils).toBeLessThan(iStack);
    expect(stack.split('inline void print_line').length).toBe(2);
    expect(stack).not.toMatch(/^\s*#\s*include\s*"/m);
    expect(stack).not.toMatch(/#pragma once/);
    expect(stack).toContain('// #include "../utils.h" (already inlined above)');
    const plain = (await examples()).find((a) => a.includes('no local headers'))!;
    expect(plain).toContain('#include <cstdio>');
  });

  it('a header change rebuilds exactly the programs that include it', async () => {
    await fsp.writeFile(path.join(dir, 'sources/stack/stack.hpp'), fx('stack/stack.hpp').replace('T pop()', '// pop the top\n  T pop()'));
    const r1 = await runCli(dir, ['--json', '-j', '2', 'dataset']);
    expect(r1.code, r1.stderr).toBe(0);
    expect(outcomes(r1).executed.filter((id) => /^(asm|cleaned)\//.test(id)).sort()).toEqual(['asm/stack/main', 'cleaned/stack/main']);

    await fsp.writeFile(path.join(dir, 'sources/utils.h'), fx('utils.h').replace('%s: %ld', '%s = %ld'));
    const r2 = await runCli(dir, ['--json', '-j', '2', 'dataset']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(outcomes(r2).executed.filter((id) => /^(asm|validated)\//.test(id)).sort()).toEqual(
      ['asm/graph/paths', 'asm/stack/main', 'validated/graph/paths', 'validated/stack/main'],
    );
    expect(await fsp.readFile(path.join(dir, 'build/validated/graph/paths.expected.txt'), 'utf8')).toBe('lattice paths = 252\n');
  });

  it('an include that names no file stays as written and fails to compile, naming the header', async () => {
    await fsp.writeFile(path.join(dir, 'sources/missing.cpp'), '#include "nowhere.hpp"\nint main() { return 0; }\n');
    await fsp.writeFile(path.join(dir, 'sources/missing.prompt.txt'), 'x\n');
    const r = await runCli(dir, ['--json', '-j', '2', 'dataset']);
    expect(r.code, r.stderr).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'build/asm/missing.rejected.txt'), 'utf8')).toMatch(/^compile-error\n[\s\S]*nowhere\.hpp/);
  });
});
