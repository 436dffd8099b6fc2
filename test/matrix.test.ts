/** A matrix over toolchains and optimisation levels: one item per combination, joined downstream. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, outcomes, runCli, summaryOf, toolchainFiles } from './support/cli.js';

const PIPELINE = `version: 1
targets:
  programs: { kind: files, params: { glob: "src/*.cpp" } }
  asm:
    kind: compile
    from: programs
    matrix: { toolchain: [x86_64, aarch64], opt: [O0, O2] }
  validated:
    kind: validate
    from: asm
    with: { source: programs }
`;
const HELLO = '#include <cstdio>\nint main() { int s = 0; for (int i = 1; i <= 10; i++) s += i; std::printf("%d\\n", s); }\n';

let dir = '';
afterAll(async () => {
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe('matrix targets', () => {
  it('expands every item per combination; variables flow into downstream parameters', async () => {
    const files: Record<string, string> = { 'pipeline.yaml': PIPELINE, 'src/sum.cpp': HELLO, 'src/twice.cpp': HELLO.replace('s += i', 's += 2 * i') };
    Object.assign(files, await toolchainFiles());
    dir = await makeProject(files);
    await fsp.chmod(dir, 0o755);
    const r = await runCli(dir, ['--json', 'validated']);
    expect(r.code, r.stderr).toBe(0);
    const combos = ['opt=O0,toolchain=aarch64', 'opt=O0,toolchain=x86_64', 'opt=O2,toolchain=aarch64', 'opt=O2,toolchain=x86_64'];
    expect(outcomes(r).executed).toEqual([
      ...combos.map((c) => `asm/sum[${c}]`), ...combos.map((c) => `asm/twice[${c}]`),
      ...combos.map((c) => `validated/sum[${c}]`), ...combos.map((c) => `validated/twice[${c}]`),
    ].sort());
    for (const e of r.events.filter((x) => x.type === 'node-done' && String(x.id).startsWith('validated/'))) expect(e.status).toBe('ok');
    // Materialized per combination; each toolchain's own assembly.
    const x86 = await fsp.readFile(path.join(dir, 'build/asm/sum.O2.x86_64.s'), 'utf8');
    const arm = await fsp.readFile(path.join(dir, 'build/asm/sum.O2.aarch64.s'), 'utf8');
    expect(x86).toMatch(/%[re]?[a-d]x|%e?[sd]i/);
    expect(arm).toMatch(/\b[wx]\d+\b/);
    expect(await fsp.readFile(path.join(dir, 'build/validated/twice.O0.aarch64.expected.txt'), 'utf8')).toBe('110\n');
    expect(summaryOf(await runCli(dir, ['--json', 'validated'])).executed).toBe(0);
  });
});
