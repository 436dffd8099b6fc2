/**
 * --explain and `status -v` name what changed in the user's terms: the source file or sidecar,
 * the parameter, the toolchain, the upstream node whose output changed.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, runCli, toolchainFiles } from './support/cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

const pipeline = (opt: string) => `version: 1
targets:
  programs: { kind: files, params: { glob: sources/*.cpp, sidecars: { prompt: "{stem}.prompt.txt" } } }
  asm: { kind: compile, from: programs, params: { opt: ${opt} } }
  validated: { kind: validate, from: asm, with: { source: programs } }
  dataset: { kind: dataset, from: validated, with: { source: programs } }
`;

const program = (n: number) => `#include <cstdio>\nint main() { std::printf("%d\\n", ${n}); }\n`;

function whyOf(r: { events: Record<string, any>[] }, id: string): string[] {
  const e = r.events.find((x) => x.type === 'node-done' && x.id === id);
  if (!e) throw new Error(`no node-done for ${id}`);
  return e.why ?? [];
}

describe('--explain names files', () => {
  it('a source, a sidecar, a parameter, a toolchain file and an upstream output', async () => {
    const files: Record<string, string> = { 'pipeline.yaml': pipeline('O0'), ...(await toolchainFiles()) };
    for (const n of [1, 2]) {
      files[`sources/p${n}.cpp`] = program(n);
      files[`sources/p${n}.prompt.txt`] = `Print ${n}.\n`;
    }
    const dir = await makeProject(files);
    dirs.push(dir);
    expect((await runCli(dir, [])).code).toBe(0);

    await fsp.writeFile(path.join(dir, 'sources/p1.cpp'), program(11));
    let r = await runCli(dir, ['--explain', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(whyOf(r, 'asm/p1')).toEqual([expect.stringMatching(/^sources\/p1\.cpp changed \([0-9a-f]{8} → [0-9a-f]{8}\)$/)]);
    expect(whyOf(r, 'validated/p1').join('\n')).toMatch(/^asm\/p1's output changed \(s: [0-9a-f]{8} → [0-9a-f]{8}\)/m);
    expect(whyOf(r, 'validated/p1').join('\n')).toMatch(/^sources\/p1\.cpp changed/m);
    expect(whyOf(r, 'dataset').join('\n')).toMatch(/validated\/p1's output changed/);
    const text = await runCli(dir, ['--explain']);
    expect(text.stderr).toMatch(/nothing to do/);

    await fsp.writeFile(path.join(dir, 'sources/p2.prompt.txt'), 'Print two.\n');
    r = await runCli(dir, ['-n', '--json']);
    expect(whyOf(r, 'dataset')).toEqual([expect.stringMatching(/^sources\/p2\.prompt\.txt changed \([0-9a-f]{8} → [0-9a-f]{8}\)$/)]);
    expect((await runCli(dir, [])).code).toBe(0);

    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), pipeline('O2'));
    r = await runCli(dir, ['-n', '--json']);
    expect(whyOf(r, 'asm/p1')).toEqual(['params.opt: O0 → O2']);

    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), pipeline('O0'));
    const tc = path.join(dir, 'toolchain/x86_64.yaml');
    await fsp.writeFile(tc, (await fsp.readFile(tc, 'utf8')).replace('flags: [-std=gnu++17]', 'flags: [-std=gnu++20]'));
    r = await runCli(dir, ['-n', '--json']);
    expect(whyOf(r, 'asm/p1')).toEqual([expect.stringMatching(/^toolchain x86_64 changed \(toolchain\/x86_64\.yaml or its compiler\): flags\[0\]: "?-std=gnu\+\+17"? → "?-std=gnu\+\+20"?$/)]);
  });
});

describe('status -v', () => {
  it('lists stale and rejected nodes, each with its reason', async () => {
    const files: Record<string, string> = { 'pipeline.yaml': pipeline('O0'), ...(await toolchainFiles()) };
    files['sources/p1.cpp'] = program(1);
    files['sources/p1.prompt.txt'] = 'Print 1.\n';
    files['sources/bad.cpp'] = 'int main() { return x; }\n';
    files['sources/bad.prompt.txt'] = 'Fail.\n';
    const dir = await makeProject(files);
    dirs.push(dir);
    expect((await runCli(dir, [])).code).toBe(0);
    await fsp.writeFile(path.join(dir, 'sources/p1.cpp'), program(7));
    const r = await runCli(dir, ['status', '-v']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^stale:\n {2}asm\/p1\n {6}sources\/p1\.cpp changed \([0-9a-f]{8} → [0-9a-f]{8}\)\n/m);
    expect(out).toMatch(/^ {2}validated\/p1\n {6}an input would be rebuilt first$/m);
    expect(out).toMatch(/^rejected:\n {2}asm\/bad\n {6}compile-error: .*: error: .x. was not declared/m);
    expect(out).toMatch(/^ {2}validated\/bad\n {6}compile-error: input asm was rejected/m);
    const plain = await runCli(dir, ['status']);
    expect(plain.stdout).not.toMatch(/stale:/);
    const j = JSON.parse((await runCli(dir, ['status', '-v', '--json'])).stdout);
    expect(j.nodes.find((n: any) => n.id === 'asm/p1')).toMatchObject({ state: 'stale', why: [expect.stringMatching(/^sources\/p1\.cpp changed/)] });
  });
});
