/**
 * Bad sources and a hostile work tree: each gets a clear message and exit 2, or a per-item
 * rejection with a reason where that is right; nothing is written outside the project and no
 * earlier output is lost.
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, makeProject, runCli, summaryOf, type CliResult, toolchainFiles } from './support/cli.js';

const PIPELINE = `version: 1
default: [dataset]
targets:
  programs: { kind: files, params: { glob: "src/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } } }
  asm: { kind: compile, from: programs }
  validated: { kind: validate, from: asm, with: { source: programs }, params: { timeoutMs: 2000 } }
  dataset: { kind: dataset, from: validated, with: { source: programs } }
`;
const HELLO = '#include <cstdio>\nint main() { std::puts("hi"); }\n';

const dirs: string[] = [];
async function project(files: Record<string, string | Buffer>): Promise<string> {
  const d = await makeProject({ 'pipeline.yaml': PIPELINE, ...(await toolchainFiles()) });
  for (const [rel, data] of Object.entries(files)) {
    await fsp.mkdir(path.dirname(path.join(d, rel)), { recursive: true });
    await fsp.writeFile(path.join(d, rel), data);
  }
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

function node(r: CliResult, id: string) {
  return r.events.find((e) => e.type === 'node-done' && e.id === id) as Record<string, any> | undefined;
}

describe('bad sources become per-item rejections with a reason', () => {
  let dir = '';
  let r: CliResult;
  const outside = path.join(os.tmpdir(), `asmgraph-outside-${process.pid}.cpp`);
  beforeAll(async () => {
    await fsp.writeFile(outside, HELLO);
    dir = await project({
      'src/good.cpp': HELLO,
      'src/good.prompt.txt': 'Write an Assembler program that prints hi.',
      'src/binary.cpp': Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3, 0, 0]),
      'src/latin1.cpp': Buffer.from('int main() { /* caf\xe9 */ }\n', 'latin1'),
      'src/huge.cpp': `// ${'x'.repeat(10 * 1024 * 1024)}\nint main() {}\n`,
      'src/noprompt.cpp': HELLO.replace('hi', 'no prompt'),
    });
    await fsp.symlink(outside, path.join(dir, 'src/escape.cpp'));
    r = await runCli(dir, ['--json']);
  }, 300_000);
  afterAll(() => fsp.rm(outside, { force: true }));

  it('the build succeeds and counts every rejection by reason', () => {
    expect(r.code, r.stderr).toBe(0);
    expect(summaryOf(r).rejected).toMatchObject({ 'not-text': 2, 'too-large': 1, 'outside-project': 1 });
  });
  it('binary and non-UTF-8 "C++" files: not-text', () => {
    expect(node(r, 'asm/binary')).toMatchObject({ status: 'rejected', reason: 'not-text', message: expect.stringMatching(/NUL bytes/) });
    expect(node(r, 'asm/latin1')).toMatchObject({ status: 'rejected', reason: 'not-text', message: expect.stringMatching(/not valid UTF-8/) });
  });
  it('a 10 MB source: too-large, never read into the store', async () => {
    expect(node(r, 'asm/huge')).toMatchObject({ status: 'rejected', reason: 'too-large' });
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
    expect(report.verdicts['too-large']).toBe(1);
  });
  it('a symlink to a file outside the project: outside-project', () => {
    expect(node(r, 'asm/escape')).toMatchObject({ status: 'rejected', reason: 'outside-project' });
  });
  it('a program without a prompt is excluded from the dataset with a reason, not lost silently', async () => {
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
    expect(report.excluded['no-prompt']).toEqual({ count: 1, items: ['noprompt'] });
    expect(report.examples.total).toBe(1);
    expect(report.checks.problems).toEqual(['only 1 training examples: OpenAI requires at least 10']);
  });
});

describe('an empty corpus and missing sources', () => {
  it('an empty corpus builds an empty dataset with a warning and a report that says why', async () => {
    const dir = await project({});
    const r = await runCli(dir, []);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: pipeline\.yaml: targets\.programs: glob "src\/\*\.cpp" matches no file/);
    expect(r.stderr).toMatch(/warning: only 0 training examples: OpenAI requires at least 10/);
    expect(await fsp.readFile(path.join(dir, 'build/train.jsonl'), 'utf8')).toBe('');
  });

  it('a source deleted while the build runs: the build finishes; the next run drops it', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 12; i++) files[`src/p${i}.cpp`] = HELLO.replace('hi', `hi ${i}`);
    const dir = await project(files);
    const child = spawn(process.execPath, [CLI, '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let deleted = false;
    child.stdout.on('data', (d) => {
      out += d;
      if (!deleted && out.includes('"type":"node-start"')) {
        deleted = true;
        void fsp.rm(path.join(dir, 'src/p7.cpp'));
      }
    });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(code).toBe(0);
    const r = await runCli(dir, ['--json']);
    expect(r.code).toBe(0);
    await expect(fsp.access(path.join(dir, 'build/asm/p7.s'))).rejects.toThrow();
    const report = JSON.parse(await fsp.readFile(path.join(dir, 'build/dataset.report.json'), 'utf8'));
    expect(report.items).toBe(11);
  });
});

describe('a read-only build/', () => {
  it('exit 2 with a clear message; the outputs already there are untouched', async () => {
    const dir = await project({ 'src/a.cpp': HELLO, 'src/a.prompt.txt': 'Print hi.' });
    expect((await runCli(dir, [])).code).toBe(0);
    const before = await fsp.readFile(path.join(dir, 'build/asm/a.s'), 'utf8');
    await fsp.writeFile(path.join(dir, 'src/a.cpp'), HELLO.replace('hi', 'changed'));
    // As root, permissions do not stop writes: make build/ a read-only mount in a private namespace.
    const script = `mount --bind build build && mount -o remount,bind,ro build && exec "${process.execPath}" "${CLI}"`;
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn('unshare', ['-m', 'sh', '-c', script], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      c.stderr.on('data', (d) => (stderr += d));
      c.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot write outputs to build\/: read-only file system; nothing was built and existing outputs are untouched/);
    expect(await fsp.readFile(path.join(dir, 'build/asm/a.s'), 'utf8')).toBe(before);
  });
});
