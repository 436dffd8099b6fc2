/**
 * CLI conventions: a closed pipe ends the run quietly; a mistyped command is suggested; outside a
 * project the message says where it looked; `-j 0` is every CPU; `graph` as text and with
 * ancestors; `npm run build-graph` never runs a stale dist/.
 */
import { spawn, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, makeProject, REPO, runCli, summaryOf } from './support/cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

const PIPELINE = `version: 1
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  upper: { kind: command, from: texts, params: { run: 'tr a-z A-Z < "$IN" > "$OUT"', outputs: { out: .txt } } }
  rev: { kind: command, from: texts, params: { run: 'rev "$IN" > "$OUT"', outputs: { out: .txt } } }
  joined: { kind: command, from: upper, params: { per: all, run: 'cat "$IN_DIR"/*/out > "$OUT"', outputs: { all: all.txt } } }
`;

async function project(): Promise<string> {
  const files: Record<string, string> = { 'pipeline.yaml': PIPELINE };
  for (let i = 0; i < 6; i++) files[`src/t${i}.txt`] = `text ${i}\n`;
  const d = await makeProject(files);
  dirs.push(d);
  return d;
}

describe('CLI conventions', () => {
  it('--json | head -1: the run ends quietly when the reader closes the pipe', async () => {
    const dir = await project();
    const r = await new Promise<{ code: number | null; stderr: string; first: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let first = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.stdout.once('data', (d) => {
        first = String(d).split('\n')[0]!;
        child.stdout.destroy(); // what `head -1` does once it has its line
      });
      child.on('close', (code) => resolve({ code, stderr, first }));
    });
    expect(JSON.parse(r.first).type).toBe('build-start');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // The store is consistent: the next build finishes the job.
    const next = await runCli(dir, ['--json']);
    expect(next.code).toBe(0);
    expect(summaryOf(next).ok).toBe(true);
  });

  it('a mistyped command suggests the command; outside a project the message says where it looked', async () => {
    const dir = await project();
    const r = await runCli(dir, ['stauts']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown target "stauts" (did you mean the command "status"?)');
    const empty = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-empty-'));
    dirs.push(empty);
    const out = await runCli(empty, []);
    expect(out.code).toBe(2);
    expect(out.stderr).toBe(`asmgraph: no pipeline.yaml in ${empty} or any folder above it; run asmgraph inside a project, or name the file with -f path/to/pipeline.yaml\n`);
  });

  it('-j 0 means every CPU', async () => {
    const dir = await project();
    const r = await runCli(dir, ['-j', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.events[0]).toMatchObject({ type: 'build-start', jobs: os.availableParallelism() });
    expect((await runCli(dir, ['-j', '-1'])).code).toBe(2);
  });

  it('graph: a text format by default, and graph TARGET shows its ancestors only', async () => {
    const dir = await project();
    const all = await runCli(dir, ['graph']);
    expect(all.code).toBe(0);
    expect(all.stdout).toBe([
      'texts   files, files            "src/*.txt"',
      'upper   command, per item      ← texts (each)',
      'rev     command, per item      ← texts (each)',
      'joined  command, aggregate     ← upper (all)',
      '',
    ].join('\n'));
    const anc = await runCli(dir, ['graph', 'joined']);
    expect(anc.stdout.split('\n').map((l) => l.split(' ')[0])).toEqual(['texts', 'upper', 'joined', '']);
    const dot = await runCli(dir, ['graph', 'joined', '--format', 'dot']);
    expect(dot.stdout).toContain('"upper" -> "joined"');
    expect(dot.stdout).not.toContain('rev');
    expect((await runCli(dir, ['graph', 'jonied'])).code).toBe(2);
  });

  it('npm run build-graph recompiles and bundles when a source is newer than the bundle, and only then', async () => {
    const copy = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-repo-'));
    dirs.push(copy);
    for (const f of ['src', 'tasks', 'bench', 'scripts', 'dist', 'tsconfig.json', 'package.json']) {
      await fsp.cp(path.join(REPO, f), path.join(copy, f), { recursive: true, preserveTimestamps: true });
    }
    await fsp.symlink(path.join(REPO, 'node_modules'), path.join(copy, 'node_modules'));
    // The copy starts compiled: its dist/ newer than every source (whatever state the work tree is in).
    const now = new Date();
    await fsp.utimes(path.join(copy, 'dist/bundle/cli.js'), now, now);
    const run = (args: string[]) => spawnSync(process.execPath, [path.join(copy, 'scripts/build-graph.mjs'), ...args], { cwd: copy, encoding: 'utf8' });
    const fresh = run(['--help']);
    expect(fresh.stderr).not.toMatch(/compiling/);
    expect(fresh.stdout).toContain('Content-addressed build graph');
    const cli = path.join(copy, 'src/cli.ts');
    await fsp.writeFile(cli, (await fsp.readFile(cli, 'utf8')).replace("'Content-addressed build graph:", "'Freshly compiled build graph:"));
    const later = new Date(Date.now() + 1000);
    await fsp.utimes(cli, later, later);
    const stale = run(['--help']);
    expect(stale.stderr).toMatch(/sources changed since the last compile; compiling/);
    // What runs is the bundle, rebuilt from the new compile.
    expect(await fsp.readFile(path.join(copy, 'dist/bundle/cli.js'), 'utf8')).toContain('Freshly compiled build graph');
    expect(stale.stdout).toContain('Freshly compiled build graph');
    const again = run(['--help']);
    expect(again.stderr).not.toMatch(/compiling/);
    expect(again.stdout).toContain('Freshly compiled build graph');
  }, 600_000);
});
