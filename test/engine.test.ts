/**
 * The engine end to end through the real CLI, on `command` pipelines (fast, no compiler):
 * incremental rebuilds, cache restores, early cutoff, rejections, failures, explain, dry run.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, outcomes, readTree, runCli, summaryOf } from './support/cli.js';
import { REJECTING } from './support/pipelines.js';

const PIPELINE = `version: 1
default: [joined]
targets:
  texts:
    kind: files
    params: { glob: "src/*.txt" }
  # Drops comment lines, so a comment-only edit changes nothing downstream.
  stripped:
    kind: command
    from: texts
    params:
      run: grep -v '^#' "$IN" > "$OUT" || true
      outputs: { out: .txt }
  upper:
    kind: command
    from: stripped
    params:
      run: tr a-z A-Z < "$IN" > "$OUT"
      outputs: { out: .txt }
  joined:
    kind: command
    from: upper
    params:
      per: all
      run: for d in "$IN_DIR"/*; do printf '%s=' "$(basename "$d")"; cat "$d/out"; done > "$OUT"
      outputs: { all: all.txt }
`;

const dirs: string[] = [];
async function project(extra: Record<string, string> = {}): Promise<string> {
  const d = await makeProject({ 'pipeline.yaml': PIPELINE, 'src/a.txt': 'alpha\n', 'src/b.txt': 'beta\n', 'src/c.txt': 'gamma\n', ...extra });
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

describe('incremental builds', () => {
  it('builds everything once, then executes nothing and says so', async () => {
    const dir = await project();
    const first = await runCli(dir, ['--json']);
    expect(first.code).toBe(0);
    expect(outcomes(first).executed).toEqual(['joined', 'stripped/a', 'stripped/b', 'stripped/c', 'upper/a', 'upper/b', 'upper/c']);
    expect(await fsp.readFile(path.join(dir, 'build/all.txt'), 'utf8')).toBe('a=ALPHA\nb=BETA\nc=GAMMA\n');
    expect(await fsp.readFile(path.join(dir, 'build/upper/b.txt'), 'utf8')).toBe('BETA\n');

    const second = await runCli(dir, ['--json']);
    expect(outcomes(second).executed).toBeUndefined();
    expect(summaryOf(second)).toMatchObject({ executed: 0, cached: 0, upToDate: 7, ok: true });
    const plain = await runCli(dir, []);
    expect(plain.stderr).toMatch(/nothing to do: all 7 nodes up to date/);
  });

  it('re-runs only the edited item\'s chain, and --explain names the changed input', async () => {
    const dir = await project();
    await runCli(dir, ['--json']);
    await fsp.writeFile(path.join(dir, 'src/b.txt'), 'beta two\n');
    const r = await runCli(dir, ['--json', '--explain']);
    expect(outcomes(r).executed).toEqual(['joined', 'stripped/b', 'upper/b']);
    const stripped = r.events.find((e) => e.type === 'node-done' && e.id === 'stripped/b');
    expect(stripped.why.join('\n')).toMatch(/src\/b\.txt changed \([0-9a-f]{8} → [0-9a-f]{8}\)/);
    const text = await runCli(dir, ['--explain']);
    expect(text.stderr).toMatch(/nothing to do/);
    expect(await fsp.readFile(path.join(dir, 'build/all.txt'), 'utf8')).toBe('a=ALPHA\nb=BETA TWO\nc=GAMMA\n');
  });

  it('early cutoff: a comment-only edit re-runs the first step but not its dependents', async () => {
    const dir = await project({ 'src/a.txt': '# note\nalpha\n' });
    await runCli(dir, ['--json']);
    await fsp.writeFile(path.join(dir, 'src/a.txt'), '# another note\nalpha\n');
    const r = await runCli(dir, ['--json']);
    expect(outcomes(r).executed).toEqual(['stripped/a']);
    expect(outcomes(r)['up-to-date']).toContain('upper/a');
    expect(outcomes(r)['up-to-date']).toContain('joined');
  });

  it('restores everything from the cache after rm -rf build/, executing nothing', async () => {
    const dir = await project();
    await runCli(dir, ['--json']);
    const before = await readTree(path.join(dir, 'build'));
    await fsp.rm(path.join(dir, 'build'), { recursive: true });
    const r = await runCli(dir, ['--json']);
    expect(summaryOf(r)).toMatchObject({ executed: 0, cached: 7 });
    expect(await readTree(path.join(dir, 'build'))).toEqual(before);
  });

  it('brings back the earlier result when a source is reverted, executing nothing', async () => {
    const dir = await project();
    await runCli(dir, ['--json']);
    await fsp.writeFile(path.join(dir, 'src/a.txt'), 'changed\n');
    expect(summaryOf(await runCli(dir, ['--json'])).executed).toBe(3);
    await fsp.writeFile(path.join(dir, 'src/a.txt'), 'alpha\n');
    const r = await runCli(dir, ['--json']);
    expect(summaryOf(r)).toMatchObject({ executed: 0, cached: 3 });
    expect(await fsp.readFile(path.join(dir, 'build/all.txt'), 'utf8')).toBe('a=ALPHA\nb=BETA\nc=GAMMA\n');
  });

  it('restores an output that was modified or deleted in the work tree', async () => {
    const dir = await project();
    await runCli(dir, ['--json']);
    await fsp.writeFile(path.join(dir, 'build/upper/a.txt'), 'tampered\n');
    await fsp.rm(path.join(dir, 'build/upper/c.txt'));
    const r = await runCli(dir, ['--json']);
    expect(outcomes(r).cached).toEqual(['upper/a', 'upper/c']);
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('ALPHA\n');
    expect(await fsp.readFile(path.join(dir, 'build/upper/c.txt'), 'utf8')).toBe('GAMMA\n');
  });

  it('removes the outputs of a deleted source and drops it from the aggregate', async () => {
    const dir = await project();
    await runCli(dir, ['--json']);
    await fsp.rm(path.join(dir, 'src/b.txt'));
    const r = await runCli(dir, ['--json']);
    expect(r.code).toBe(0);
    await expect(fsp.access(path.join(dir, 'build/upper/b.txt'))).rejects.toThrow();
    await expect(fsp.access(path.join(dir, 'build/stripped/b.txt'))).rejects.toThrow();
    expect(await fsp.readFile(path.join(dir, 'build/all.txt'), 'utf8')).toBe('a=ALPHA\nc=GAMMA\n');
  });

  it('uses the stat fast path: an unchanged tree is not re-hashed', async () => {
    const dir = await project();
    const old = new Date(Date.now() - 3600_000);
    for (const f of ['a', 'b', 'c']) await fsp.utimes(path.join(dir, `src/${f}.txt`), old, old);
    await runCli(dir, ['--json']);
    const r = await runCli(dir, ['--json']);
    expect(summaryOf(r).hashedFiles).toBe(0);
    await fsp.writeFile(path.join(dir, 'src/a.txt'), 'alpha\n'); // same bytes, new mtime
    const t = await runCli(dir, ['--json']);
    expect(summaryOf(t)).toMatchObject({ hashedFiles: 1, executed: 0 });
  });

  it('--force runs everything again; --dry-run runs and writes nothing', async () => {
    const dir = await project();
    const dry = await runCli(dir, ['--json', '--dry-run']);
    expect(summaryOf(dry)).toMatchObject({ executed: 0, wouldRun: 7 });
    await expect(fsp.access(path.join(dir, 'build'))).rejects.toThrow();
    await runCli(dir, ['--json']);
    const forced = await runCli(dir, ['--json', '--force']);
    expect(summaryOf(forced).executed).toBe(7);
    await fsp.writeFile(path.join(dir, 'src/c.txt'), 'delta\n');
    const dry2 = await runCli(dir, ['--dry-run']);
    expect(dry2.stderr).toMatch(/would run stripped\/c: src\/c\.txt changed/);
    expect(dry2.stderr).toMatch(/would run upper\/c: an input would be rebuilt first/);
    expect(await fsp.readFile(path.join(dir, 'build/upper/c.txt'), 'utf8')).toBe('GAMMA\n');
  });

  it('outputs are identical whatever the execution order (-j 1 vs -j 8)', async () => {
    const one = await project();
    const eight = await project();
    expect((await runCli(one, ['-j', '1'])).code).toBe(0);
    expect((await runCli(eight, ['-j', '8'])).code).toBe(0);
    expect(await readTree(path.join(eight, 'build'))).toEqual(await readTree(path.join(one, 'build')));
  });

  it('a command that reads stdin gets end-of-file, not the terminal', async () => {
    const dir = await makeProject({
      'pipeline.yaml': 'version: 1\ntargets:\n  texts: { kind: files, params: { glob: "src/*.txt" } }\n  read: { kind: command, from: texts, params: { run: \'cat > "$OUT"; echo done >> "$OUT"\', outputs: { out: .txt } } }\n',
      'src/a.txt': 'alpha\n',
    });
    dirs.push(dir);
    // The CLI's own stdin stays open (a pipe nobody writes to): the command must not wait on it.
    const r = await runCli(dir, ['--json'], {}, 30_000, 'pipe');
    expect(r.code, r.stderr).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'build/read/a.txt'), 'utf8')).toBe('done\n');
  });

  it('-j N: at most N commands run at once, and N do run together', async () => {
    const files: Record<string, string> = {
      'pipeline.yaml': `version: 1
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  busy:
    kind: command
    from: texts
    params:
      env: [SLOTS_DIR]
      # Each command counts the commands running beside it (itself included), holding its slot a moment.
      run: touch "$SLOTS_DIR/$ITEM"; ls "$SLOTS_DIR" | wc -l > "$OUT"; sleep 0.3; rm "$SLOTS_DIR/$ITEM"
      outputs: { out: .txt }
`,
    };
    for (let i = 0; i < 8; i++) files[`src/t${i}.txt`] = `${i}\n`;
    const dir = await makeProject(files);
    dirs.push(dir);
    const slots = path.join(dir, 'slots');
    await fsp.mkdir(slots);
    const r = await runCli(dir, ['--json', '-j', '2'], { SLOTS_DIR: slots });
    expect(r.code, r.stderr).toBe(0);
    const seen = await Promise.all(Array.from({ length: 8 }, async (_, i) => Number(await fsp.readFile(path.join(dir, `build/busy/t${i}.txt`), 'utf8'))));
    expect(Math.max(...seen)).toBe(2);
  });

  it('builds only the named target and its dependencies', async () => {
    const dir = await project();
    const r = await runCli(dir, ['--json', 'stripped']);
    expect(outcomes(r).executed).toEqual(['stripped/a', 'stripped/b', 'stripped/c']);
    await expect(fsp.access(path.join(dir, 'build/upper'))).rejects.toThrow();
  });
});

describe('rejections and failures', () => {

  it('rejects an item as data: cached, counted by reason, propagated, left out of the aggregate', async () => {
    const dir = await makeProject({ 'pipeline.yaml': REJECTING, 'src/a.txt': 'good\n', 'src/b.txt': 'bad\n' });
    dirs.push(dir);
    const r = await runCli(dir, ['--json']);
    expect(r.code).toBe(0);
    expect(summaryOf(r).rejected).toEqual({ 'command-failed': 1 });
    expect(summaryOf(r).propagated).toBe(1);
    expect(await fsp.readFile(path.join(dir, 'build/checked/b.rejected.txt'), 'utf8')).toMatch(/command-failed\ncommand exited with code 3: found bad word/);
    expect(await fsp.readFile(path.join(dir, 'build/list.txt'), 'utf8')).toBe('a\n');
    const plain = await runCli(dir, ['--force']);
    expect(plain.stderr).toMatch(/rejected: 1 \(command-failed 1\)/);
    await fsp.rm(path.join(dir, 'build'), { recursive: true });
    const again = await runCli(dir, ['--json']);
    expect(summaryOf(again).executed).toBe(0);
    expect(summaryOf(again).rejected).toEqual({ 'command-failed': 1 });
    // Fixing the item brings it into the aggregate.
    await fsp.writeFile(path.join(dir, 'src/b.txt'), 'fine\n');
    await runCli(dir, ['--json']);
    expect(await fsp.readFile(path.join(dir, 'build/list.txt'), 'utf8')).toBe('a\nb\n');
    await expect(fsp.access(path.join(dir, 'build/checked/b.rejected.txt'))).rejects.toThrow();
  });

  const FAILING = `version: 1
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  step:
    kind: command
    from: texts
    params:
      run: if grep -q boom "$IN"; then echo "disk on fire" >&2; exit 1; fi; cp "$IN" "$OUT"
      outputs: { out: .txt }
  next:
    kind: command
    from: step
    params: { run: cp "$IN" "$OUT", outputs: { out: .txt } }
`;

  it('an infrastructure failure fails the build with exit 1; -k goes on with what does not depend on it', async () => {
    const files: Record<string, string> = { 'pipeline.yaml': FAILING, 'src/a.txt': 'boom\n' };
    for (let i = 0; i < 6; i++) files[`src/ok${i}.txt`] = `fine ${i}\n`;
    const dir = await makeProject(files);
    dirs.push(dir);
    const r = await runCli(dir, ['--json', '-j', '1']);
    expect(r.code).toBe(1);
    const s = summaryOf(r);
    expect(s.failed).toEqual([{ id: 'step/a', message: expect.stringMatching(/exited with code 1: disk on fire/) }]);
    expect(s.skipped).toBeGreaterThan(0);
    const plain = await runCli(dir, ['-j', '1']);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/FAILED: 1 node/);
    const k = await runCli(dir, ['--json', '-k']);
    expect(k.code).toBe(1);
    const ran = new Set([...(outcomes(k).executed ?? []), ...(outcomes(k).cached ?? []), ...(outcomes(k)['up-to-date'] ?? [])]);
    for (let i = 0; i < 6; i++) expect(ran.has(`next/ok${i}`)).toBe(true);
    expect(ran.has('next/a')).toBe(false);
  });
});

describe('generated collections', () => {
  it('a task that writes a collection grows the graph; its items fan out like files', async () => {
    const dir = await makeProject({
      'pipeline.yaml': `version: 1
targets:
  seeds: { kind: files, params: { glob: "seeds.txt" } }
  generated:
    kind: command
    from: seeds
    params:
      per: all
      collect: true
      run: while read n; do echo "item $n" > "$ITEMS_DIR/p$n.txt"; done < "$IN_DIR/seeds/src"; wc -l < "$IN_DIR/seeds/src" > "$OUT"
      outputs: { count: count.txt }
  shout:
    kind: command
    from: generated
    params: { run: tr a-z A-Z < "$IN" > "$OUT", outputs: { out: .txt } }
`,
      'seeds.txt': '1\n2\n3\n',
    });
    dirs.push(dir);
    const r = await runCli(dir, ['--json', 'shout']);
    expect(r.code).toBe(0);
    expect(outcomes(r).executed).toEqual(['generated', 'shout/p1', 'shout/p2', 'shout/p3']);
    expect(await fsp.readFile(path.join(dir, 'build/shout/p2.txt'), 'utf8')).toBe('ITEM 2\n');
    const again = await runCli(dir, ['--json', 'shout']);
    expect(summaryOf(again).executed).toBe(0);
    await fsp.writeFile(path.join(dir, 'seeds.txt'), '1\n2\n3\n4\n');
    const grown = await runCli(dir, ['--json', 'shout']);
    expect(outcomes(grown).executed).toEqual(['generated', 'shout/p4']);
  });
});

describe('clean and the cache commands', () => {
  it('clean removes outputs; the next build restores them without running', async () => {
    const dir = await project();
    await runCli(dir, ['--json']);
    const c = await runCli(dir, ['clean']);
    expect(c.code).toBe(0);
    expect(await readTree(path.join(dir, 'build'))).toEqual({});
    const r = await runCli(dir, ['--json']);
    expect(summaryOf(r)).toMatchObject({ executed: 0, cached: 7 });
  });

  it('cache verify finds a corrupted blob and a damaged record; the build never serves them', async () => {
    const dir = await project();
    await runCli(dir, ['--json']);
    // Corrupt the blob holding upper/a's output, and damage joined's action record.
    const casRoot = path.join(dir, 'cache/cas');
    const upper = (await readTree(path.join(dir, 'build/upper')))['a.txt'];
    let corrupted = '';
    for (const shard of await fsp.readdir(casRoot)) {
      for (const name of await fsp.readdir(path.join(casRoot, shard))) {
        const p = path.join(casRoot, shard, name);
        if ((await fsp.readFile(p, 'utf8')) === upper) {
          await fsp.chmod(p, 0o644);
          await fsp.writeFile(p, 'ALPHX\n');
          corrupted = name;
        }
      }
    }
    expect(corrupted).not.toBe('');
    await fsp.rm(path.join(dir, 'build'), { recursive: true });
    const r = await runCli(dir, ['--json']);
    expect(r.code).toBe(0);
    expect(outcomes(r).executed).toContain('upper/a');
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('ALPHA\n');
    expect(r.events.some((e) => e.type === 'warning' && /corrupt or missing cache entry/.test(e.message))).toBe(true);

    const acRoot = path.join(dir, 'cache/ac');
    const shard = (await fsp.readdir(acRoot))[0];
    const rec = path.join(acRoot, shard, (await fsp.readdir(path.join(acRoot, shard)))[0]);
    const text = await fsp.readFile(rec, 'utf8');
    await fsp.writeFile(rec, text.replace(/"status":"ok"/, '"status":"ko"'));
    const v = await runCli(dir, ['cache', 'verify', '--json']);
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout)).toMatchObject({ corruptRecords: 1 });
    await expect(fsp.access(rec)).rejects.toThrow();
    const v2 = await runCli(dir, ['cache', 'verify', '--json']);
    expect(v2.code).toBe(0);
    expect(JSON.parse(v2.stdout)).toMatchObject({ corruptBlobs: [], corruptRecords: 0, danglingRecords: 0 });
  });

  it('cache gc evicts old entries but never what the current graph references', async () => {
    const dir = await project();
    await runCli(dir, ['--json']);
    for (let i = 0; i < 3; i++) {
      await fsp.writeFile(path.join(dir, 'src/a.txt'), `version ${i}\n`);
      await runCli(dir, ['--json']);
    }
    const gc = await runCli(dir, ['cache', 'gc', '--max-size', '1', '--json']);
    expect(gc.code).toBe(0);
    const rep = JSON.parse(gc.stdout);
    expect(rep.evictedRecords).toBeGreaterThan(0);
    expect(rep.after).toBeLessThan(rep.before);
    // What the current graph uses survives: removing build/ restores without running.
    await fsp.rm(path.join(dir, 'build'), { recursive: true });
    const r = await runCli(dir, ['--json']);
    expect(summaryOf(r)).toMatchObject({ executed: 0, cached: 7 });
    expect(await fsp.readFile(path.join(dir, 'build/upper/a.txt'), 'utf8')).toBe('VERSION 2\n');
  });
});

describe('concurrent runners', () => {
  it('two builds at once: one waits for the lock, both succeed with identical outputs', async () => {
    const dir = await makeProject({
      'pipeline.yaml': PIPELINE.replace(`tr a-z A-Z < "$IN" > "$OUT"`, `sleep 0.3; tr a-z A-Z < "$IN" > "$OUT"`),
      'src/a.txt': 'alpha\n', 'src/b.txt': 'beta\n', 'src/c.txt': 'gamma\n',
    });
    dirs.push(dir);
    const [r1, r2] = await Promise.all([runCli(dir, ['--json']), runCli(dir, ['--json'])]);
    expect(r1.code).toBe(0);
    expect(r2.code).toBe(0);
    const waits = [r1, r2].filter((r) => r.events.some((e) => e.type === 'lock-wait'));
    expect(waits.length).toBe(1);
    expect(summaryOf(r1).executed + summaryOf(r2).executed).toBe(7);
    expect(await fsp.readFile(path.join(dir, 'build/all.txt'), 'utf8')).toBe('a=ALPHA\nb=BETA\nc=GAMMA\n');
    expect(await fsp.readdir(path.join(dir, 'cache/tmp'))).toEqual([]);
  });
});

describe('graph and status', () => {
  it('prints the graph as DOT and Mermaid, and status counts per target', async () => {
    const dir = await project();
    const dot = await runCli(dir, ['graph', '--format', 'dot']);
    expect(dot.stdout).toMatch(/^digraph asmgraph \{/);
    expect(dot.stdout).toContain('"stripped" -> "upper" [label="each"];');
    expect(dot.stdout).toContain('"upper" -> "joined" [label="all"];');
    const mer = await runCli(dir, ['graph', '--format', 'mermaid']);
    expect(mer.stdout).toMatch(/^flowchart LR/);
    expect(mer.stdout).toContain('upper -->|all| joined');
    const before = await runCli(dir, ['status', '--json']);
    expect(JSON.parse(before.stdout)).toContainEqual({ target: 'upper', fresh: 0, stale: 3, rejected: 0 });
    await runCli(dir, []);
    await fsp.writeFile(path.join(dir, 'src/a.txt'), 'new\n');
    const after = await runCli(dir, ['status', '--json']);
    expect(JSON.parse(after.stdout)).toContainEqual({ target: 'stripped', fresh: 2, stale: 1, rejected: 0 });
    expect(summaryOf(await runCli(dir, ['--json'])).executed).toBe(3);
  });
});
