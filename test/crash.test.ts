/**
 * Crash and interrupt safety: kill -9 at random moments, then a normal run must produce
 * exactly a clean build's outputs, with no corrupt cache entry and no temp file left; Ctrl-C
 * stops promptly with exit 130 and a consistent store.
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, makeProject, readTree, runCli, summaryOf } from './support/cli.js';
import { rng, SEED } from './support/random.js';

const KILLS = Number(process.env.ASMGRAPH_KILLS ?? 12);


const PIPELINE = `version: 1
default: [joined]
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  slow:
    kind: command
    from: texts
    params: { run: 'sleep 0.05; rev "$IN" > "$OUT"', outputs: { out: .txt } }
  upper:
    kind: command
    from: slow
    params: { run: 'tr a-z A-Z < "$IN" > "$OUT"', outputs: { out: .txt } }
  joined:
    kind: command
    from: upper
    params: { per: all, run: 'cat "$IN_DIR"/*/out > "$OUT"', outputs: { all: all.txt } }
`;

function files(): Record<string, string> {
  const f: Record<string, string> = { 'pipeline.yaml': PIPELINE };
  for (let i = 0; i < 24; i++) f[`src/f${String(i).padStart(2, '0')}.txt`] = `line ${i} ${'abc'.repeat(i)}\n`;
  return f;
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

describe('crash safety', () => {
  it(`survives ${KILLS} kill -9 at random moments (seed ${SEED}) and ends byte-identical to a clean build`, { timeout: 300_000 }, async () => {
    console.log(`crash test seed: ${SEED} (replay with ASMGRAPH_SEED=${SEED})`);
    const random = rng(SEED);
    const clean = await makeProject(files());
    const victim = await makeProject(files());
    dirs.push(clean, victim);
    expect((await runCli(clean, [])).code).toBe(0);
    const expected = await readTree(path.join(clean, 'build'));

    for (let k = 0; k < KILLS; k++) {
      // Alternate: edit an input now and then, so kills also hit rebuilds and removals.
      if (k % 4 === 3) await fsp.writeFile(path.join(victim, `src/f0${k % 10}.txt`), `edited ${k}\n`);
      if (k % 4 === 0 && k > 0) await fsp.writeFile(path.join(victim, `src/f0${(k - 4) % 10}.txt`), `line ${(k - 4) % 10} ${'abc'.repeat((k - 4) % 10)}\n`);
      const child = spawn(process.execPath, [CLI, '-j', '4'], { cwd: victim, stdio: 'ignore' });
      // Listen before killing: a run that finishes on its own must not be waited for forever.
      const closed = new Promise((r) => child.on('close', r));
      const delay = Math.floor(random() * 900);
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await closed;
    }
    // Restore every input, then finish normally.
    for (const [rel, text] of Object.entries(files())) await fsp.writeFile(path.join(victim, rel), text);
    const final = await runCli(victim, ['--json'], {}, 100_000);
    expect(final.code, final.stderr).toBe(0);
    expect(await readTree(path.join(victim, 'build'))).toEqual(expected);
    const verify = await runCli(victim, ['cache', 'verify', '--json']);
    expect(JSON.parse(verify.stdout)).toMatchObject({ corruptBlobs: [], corruptRecords: 0, danglingRecords: 0 });
    expect(await fsp.readdir(path.join(victim, 'cache/tmp'))).toEqual([]);
    const again = await runCli(victim, ['--json']);
    expect(summaryOf(again).executed).toBe(0);
  });

  it('Ctrl-C stops a build promptly with exit 130; the next run finishes the job', async () => {
    const dir = await makeProject({
      // Ten minutes of sleep: a Ctrl-C that waited for it would time the test out.
      'pipeline.yaml': PIPELINE.replace('sleep 0.05', 'sleep 600'),
      'src/a.txt': 'abc\n',
    });
    dirs.push(dir);
    const child = spawn(process.execPath, [CLI, '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const closed = new Promise<number | null>((r) => child.on('close', r));
    let out = '';
    const started = new Promise<void>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('"type":"node-start"')) resolve();
      });
    });
    await started;
    child.kill('SIGINT');
    const code = await closed;
    expect(code).toBe(130);
    expect(await fsp.readdir(path.join(dir, 'cache/tmp'))).toEqual([]);
    await fsp.writeFile(path.join(dir, 'pipeline.yaml'), PIPELINE);
    const r = await runCli(dir, []);
    expect(r.code).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'build/all.txt'), 'utf8')).toBe('CBA\n');
  });
});
