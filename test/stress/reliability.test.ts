/**
 * The reliability suite at full size, on real corpus builds (compile → validate → dataset):
 * kill -9 at random moments, concurrent runners, a build beside `cache gc`.
 * Counts: ASMGRAPH_KILLS (default 50), ASMGRAPH_PROGRAMS (default 10); ASMGRAPH_SEED replays.
 */
import { spawn } from 'node:child_process';
import { promises as fsp, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, makeProject, readTree, REPO, runCli, summaryOf, toolchainFiles } from '../support/cli.js';
import { rng, SEED } from '../support/random.js';

const KILLS = Number(process.env.ASMGRAPH_KILLS ?? 50);
const PROGRAMS = Number(process.env.ASMGRAPH_PROGRAMS ?? 10);


const PIPELINE = `version: 1
default: [dataset]
targets:
  programs: { kind: files, params: { glob: "sources/*.cpp", sidecars: { prompt: "{stem}.prompt.txt" } } }
  asm: { kind: compile, from: programs }
  cleaned: { kind: compile, from: programs, params: { clean: true } }
  validated: { kind: validate, from: cleaned, with: { raw: asm, source: programs } }
  dataset: { kind: dataset, from: validated, with: { source: programs } }
`;

async function corpusProject(): Promise<string> {
  const files: Record<string, string> = { 'pipeline.yaml': PIPELINE };
  const names = (await fsp.readdir(path.join(REPO, 'sources'))).filter((f) => f.endsWith('.cpp')).sort().slice(0, PROGRAMS);
  for (const n of names) {
    files[`sources/${n}`] = await fsp.readFile(path.join(REPO, 'sources', n), 'utf8');
    files[`sources/${n.replace('.cpp', '.prompt.txt')}`] = await fsp.readFile(path.join(REPO, 'sources', n.replace('.cpp', '.prompt.txt')), 'utf8');
  }
  Object.assign(files, await toolchainFiles());
  const d = await makeProject(files);
  await fsp.chmod(d, 0o755);
  dirs.push(d);
  return d;
}

function leftoverProcesses(dir: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(dir)) out.push(`${pid} ${cmd.replace(/\0/g, ' ')}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

describe('reliability (stress)', () => {
  it(`${KILLS} kill -9 during corpus builds (seed ${SEED}): the final state equals a clean build`, async () => {
    console.log(`stress seed ${SEED}: replay with ASMGRAPH_SEED=${SEED} ASMGRAPH_KILLS=${KILLS}`);
    const random = rng(SEED);
    const clean = await corpusProject();
    expect((await runCli(clean, [])).code).toBe(0);
    const expected = await readTree(path.join(clean, 'build'));
    const victim = await corpusProject();
    let survived = 0;
    for (let k = 0; k < KILLS; k++) {
      if (k % 10 === 5) await fsp.rm(path.join(victim, 'build'), { recursive: true, force: true });
      const child = spawn(process.execPath, [CLI], { cwd: victim, stdio: 'ignore' });
      // Listen before killing: a run that finishes on its own must not be waited for forever.
      const closed = new Promise((r) => child.on('close', r));
      await new Promise((r) => setTimeout(r, Math.floor(random() * 2500)));
      child.kill('SIGKILL');
      await closed;
      survived++;
    }
    const final = await runCli(victim, ['--json']);
    expect(final.code, final.stderr).toBe(0);
    expect(await readTree(path.join(victim, 'build'))).toEqual(expected);
    const verify = JSON.parse((await runCli(victim, ['cache', 'verify', '--json'])).stdout);
    expect(verify).toMatchObject({ corruptBlobs: [], corruptRecords: 0, danglingRecords: 0 });
    expect(await fsp.readdir(path.join(victim, 'cache/tmp'))).toEqual([]);
    const again = await runCli(victim, ['--json', '--explain']);
    const reran = again.events.filter((e) => e.type === 'node-done' && e.outcome === 'executed').map((e) => `${e.id}: ${(e.why ?? []).join('; ')}`);
    expect(reran).toEqual([]);
    console.log(`stress: ${survived} kills survived`);
  });

  it('four builds at once and one beside cache gc: all succeed with identical outputs', async () => {
    const dir = await corpusProject();
    const runs = await Promise.all([runCli(dir, ['--json']), runCli(dir, ['--json']), runCli(dir, ['--json']), runCli(dir, ['--json'])]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(runs.reduce((n, r) => n + summaryOf(r).executed, 0)).toBe(summaryOf(runs.find((r) => summaryOf(r).executed > 0)!).executed);
    const once = await readTree(path.join(dir, 'build'));
    await fsp.rm(path.join(dir, 'build'), { recursive: true });
    const [b, g] = await Promise.all([runCli(dir, ['--json']), runCli(dir, ['cache', 'gc', '--max-size', '1M', '--json'])]);
    expect(b.code, b.stderr).toBe(0);
    expect(g.code, g.stderr).toBe(0);
    expect(await readTree(path.join(dir, 'build'))).toEqual(once);
    expect(leftoverProcesses(dir)).toEqual([]);
  });
});
