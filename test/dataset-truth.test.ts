/**
 * The dataset tells the truth about itself: the system message names the compiler (and OS) that
 * really made the assembly, and the report lists every program with its path, verdict, reason,
 * message and, when excluded for length, its token count.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, runCli, toolchainFiles } from './support/cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

const pipeline = (extra: string) => `version: 1
targets:
  programs: { kind: files, params: { glob: sources/*.cpp, sidecars: { prompt: "{stem}.prompt.txt" } } }
  asm: { kind: compile, from: programs }
  validated: { kind: validate, from: asm, with: { source: programs } }
  dataset: { kind: dataset, from: validated, with: { source: programs }, params: { maxTokensPerExample: 700${extra} } }
`;

describe('the dataset tells the truth', () => {
  it('system message from the toolchain identity; the report lists every program', async () => {
    const files: Record<string, string> = { 'pipeline.yaml': pipeline(''), ...(await toolchainFiles()) };
    files['sources/small.cpp'] = '#include <cstdio>\nint main() { std::puts("hi"); }\n';
    files['sources/small.prompt.txt'] = 'Say hi.\n';
    files['sources/big.cpp'] = `#include <cstdio>\nint main() {\n${Array.from({ length: 40 }, (_, i) => `  std::printf("%d\\n", ${i} * ${i});`).join('\n')}\n}\n`;
    files['sources/big.prompt.txt'] = 'Print squares.\n';
    files['sources/bad.cpp'] = 'int main() {\n  return nope;\n}\n';
    files['sources/bad.prompt.txt'] = 'Fail.\n';
    const dir = await makeProject(files);
    dirs.push(dir);
    const r = await runCli(dir, []);
    expect(r.code, r.stderr).toBe(0);

    const compiler = execFileSync('g++', ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
    const line = JSON.parse((await fsp.readFile(path.join(dir, 'build/train.jsonl'), 'utf8')).split('\n')[0]!);
    const system: string = line.messages[0].content;
    expect(system).toContain(`can be further compiled with ${compiler}.`);
    if (!compiler.includes('13.2.0-23ubuntu4')) expect(system).not.toContain('13.2.0-23ubuntu4');
    expect(system).not.toMatch(/\{(compiler|os)\}/);
    expect(system).toMatch(/^You are a coding assistant AI specialised in writing x86-64 g\+\+ Assembler code\.\n/);

    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
    expect(report.system).toBe(system);
    const byKey = Object.fromEntries(report.programs.map((x: any) => [x.key, x]));
    expect(Object.keys(byKey).sort()).toEqual(['bad', 'big', 'small']);
    expect(byKey.small).toMatchObject({ source: 'sources/small.cpp', verdict: 'ok', included: true, split: expect.stringMatching(/^(train|valid)$/), excludedFor: null, tokens: expect.any(Number) });
    expect(byKey.big).toMatchObject({ source: 'sources/big.cpp', verdict: 'ok', included: false, excludedFor: 'too-long' });
    expect(byKey.big.tokens).toBeGreaterThan(700);
    expect(byKey.bad).toMatchObject({ source: 'sources/bad.cpp', verdict: 'compile-error', reason: 'compile-error', included: false, excludedFor: 'verdict:compile-error' });
    expect(byKey.bad.message).toMatch(/sources\/bad\.cpp:2:10: error: .nope. was not declared/);

    // A custom template is filled too; a text without placeholders is taken as it is.
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), pipeline(', system: "Assembly by {compiler} for {triple}."'));
    expect((await runCli(dir, [])).code).toBe(0);
    const custom = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
    expect(custom.system).toBe(`Assembly by ${compiler} for x86_64-linux-gnu.`);
  });
});
