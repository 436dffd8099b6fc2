/**
 * Bad references caught when the pipeline loads (exit 2, located, a suggestion), and a failure
 * shared by many nodes reported once with a count, in a summary whose counts add up.
 */
import { promises as fsp } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, runCli, summaryOf, toolchainFiles } from './support/cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

const PROGRAM = '#include <cstdio>\nint main() { std::puts("hi"); }\n';

async function project(pipeline: string, extra: Record<string, string> = {}): Promise<string> {
  const files: Record<string, string> = { 'pipeline.yaml': pipeline, ...(await toolchainFiles()), ...extra };
  for (let i = 1; i <= 4; i++) files[`sources/p${i}.cpp`] = PROGRAM.replace('hi', `hi ${i}`);
  const d = await makeProject(files);
  dirs.push(d);
  return d;
}

const pipelineWith = (asmParams: string, extra = '') => `version: 1
targets:
  programs: { kind: files, params: { glob: sources/*.cpp } }
  asm: { kind: compile, from: programs, ${asmParams} }
  validated: { kind: validate, from: asm, with: { source: programs } }
  dataset: { kind: dataset, from: validated, with: { source: programs } }
${extra}`;

describe('references checked at load time', () => {
  it('an unknown toolchain is a located error with a suggestion, exit 2, before anything runs', async () => {
    const dir = await project(pipelineWith('params: { toolchain: x86 }'));
    const r = await runCli(dir, []);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pipeline.yaml:4:62: targets.asm.params.toolchain: unknown toolchain "x86" (did you mean "x86_64"?)');
    expect(r.stderr).not.toMatch(/FAILED/);
    await expect(fsp.access(`${dir}/build`)).rejects.toThrow();
    // The same for `status`, a dry run, and a toolchain named in a matrix.
    expect((await runCli(dir, ['status'])).code).toBe(2);
    expect((await runCli(dir, ['-n'])).code).toBe(2);
    const m = await project(pipelineWith('matrix: { toolchain: [x86_64, riscv] }'));
    const rm = await runCli(m, []);
    expect(rm.code).toBe(2);
    expect(rm.stderr).toMatch(/pipeline\.yaml:4:\d+: targets\.asm\.matrix\.toolchain\.1: unknown toolchain "riscv" \(did you mean "riscv64"\?\)/);
  });

  it('a toolchain file deleted after a good load is caught on the next load too', async () => {
    const dir = await project(pipelineWith('params: { toolchain: aarch64 }'));
    expect((await runCli(dir, ['status'])).code).toBe(0);
    await fsp.rm(`${dir}/toolchain/aarch64.yaml`);
    const r = await runCli(dir, []);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/targets\.asm\.params\.toolchain: unknown toolchain "aarch64"/);
  });
});

describe('a failure shared by many nodes', () => {
  it('prints once with a count, and the counts add up to the total', async () => {
    const fake = (await toolchainFiles())['toolchain/x86_64.yaml']!.replace(/^name: .*$/m, 'name: fake').replace(/^cxx: .*$/m, 'cxx: no-such-gxx');
    const dir = await project(pipelineWith('params: { toolchain: fake }'), { 'toolchain/fake.yaml': fake });
    for (const args of [['-k'], []]) {
      const r = await runCli(dir, args);
      expect(r.code).toBe(1);
      const lines = r.stderr.split('\n').filter((l) => l.includes('no-such-gxx not found'));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/4 nodes \(asm\/p1, asm\/p2, asm\/p3, …\): toolchain fake: no-such-gxx not found/);
      expect(r.stderr).toContain('9 nodes: 0 executed, 0 restored from cache, 0 up to date, 4 failed, 5 not started');
      const j = summaryOf(await runCli(dir, [...args, '--json']));
      expect(j.executed + j.cached + j.upToDate + j.propagated + j.failed.length + j.skipped).toBe(j.total);
    }
  });
});
