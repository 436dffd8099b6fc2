/**
 * Watch mode, end to end: the real CLI (`--watch --json`) in a temp project, synchronised only
 * on its NDJSON events (never on sleeps).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { promises as fsp, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { glob } from 'tinyglobby';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { lstatSync } from 'node:fs';
import { deriveSpec } from '../src/watch/spec.js';
import { filesKind } from '../tasks/files.js';
import type { Pipeline, TargetDef } from '../src/pipeline/model.js';

const REPO = path.resolve(import.meta.dirname, '..');
const CLI = path.join(REPO, 'dist', 'src', 'cli.js');
const WAIT = 20_000;

type Ev = Record<string, any>;

const PIPELINE = (run = 'tr a-z A-Z < "$IN" > "$OUT"') => `version: 1
default: [joined]
targets:
  texts: { kind: files, params: { glob: "src/*.txt", sidecars: { note: "{stem}.note" } } }
  upper: { kind: command, from: texts, params: { run: '${run}', outputs: { out: .txt } } }
  joined: { kind: command, from: upper, params: { per: all, run: 'cat "$IN_DIR"/*/out > "$OUT"', outputs: { all: all.txt } } }
`;
/** Items whose text says "slow" take a while: lets a test act while a cycle runs. */
const SLOW_RUN = (secs: number) => `if grep -q slow "$IN"; then sleep ${secs}; fi; tr a-z A-Z < "$IN" > "$OUT"`;

const dirs: string[] = [];
const procs: Watcher[] = [];

async function project(files: Record<string, string>): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-watch-'));
  dirs.push(dir);
  for (const [rel, content] of Object.entries(files)) {
    await fsp.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await fsp.writeFile(path.join(dir, rel), content);
  }
  return dir;
}

class Watcher {
  readonly events: Ev[] = [];
  readonly child: ChildProcess;
  stderr = '';
  private waiters: (() => void)[] = [];
  private exited: Promise<number | null>;

  constructor(readonly dir: string, args: string[] = []) {
    this.child = spawn(process.execPath, [CLI, '--watch', '--json', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('{')) this.events.push(JSON.parse(line) as Ev);
      }
      this.notify();
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => {
      this.notify();
      resolve(code);
    }));
    procs.push(this);
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Index to pass as `from`: only events after this point count. */
  mark(): number {
    return this.events.length;
  }

  /** The first event at or after `from` that satisfies `pred`. */
  async waitFor(pred: (e: Ev) => boolean, from = 0, timeout = WAIT): Promise<Ev & { index: number }> {
    const deadline = Date.now() + timeout;
    for (;;) {
      for (let i = from; i < this.events.length; i++) if (pred(this.events[i])) return { ...this.events[i], index: i };
      if (this.child.exitCode !== null) throw new Error(`watcher exited (${this.child.exitCode}) while waiting\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; events:\n${this.events.slice(from).map((e) => JSON.stringify(e)).join('\n')}\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  ready(): Promise<Ev> {
    return this.waitFor((e) => e.type === 'watch-ready');
  }

  /** The next cycle started after `from` (optionally one whose changes include `rel`), and its events up to cycle-done. */
  async cycle(from: number, rel?: string): Promise<{ start: Ev; done: Ev; events: Ev[] }> {
    const start = await this.waitFor((e) => e.type === 'cycle-start' && (!rel || e.changed.includes(rel)), from);
    const done = await this.waitFor((e) => e.type === 'cycle-done' && e.cycle === start.cycle, start.index);
    return { start, done, events: this.events.slice(start.index, done.index + 1) };
  }

  cycles(from = 0): Ev[] {
    return this.events.slice(from).filter((e) => e.type === 'cycle-start');
  }

  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}

const executed = (events: Ev[]) => events.filter((e) => e.type === 'node-done' && e.outcome === 'executed').map((e) => e.id).sort();
const read = (dir: string, rel: string) => fsp.readFile(path.join(dir, rel), 'utf8');

async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of await glob('build/**', { cwd: dir })) out[rel] = await read(dir, rel);
  return out;
}

/** What a clean, non-watch build of the same sources produces. */
async function cleanBuild(dir: string): Promise<Record<string, string>> {
  const copy = await project({});
  await fsp.cp(path.join(dir, 'src'), path.join(copy, 'src'), { recursive: true });
  await fsp.copyFile(path.join(dir, 'pipeline.yaml'), path.join(copy, 'pipeline.yaml'));
  execFileSync(process.execPath, [CLI, '-q'], { cwd: copy, stdio: 'ignore' });
  return tree(copy);
}

async function started(files: Record<string, string>, pipeline = PIPELINE()): Promise<Watcher> {
  const dir = await project({ 'pipeline.yaml': pipeline, ...files });
  const w = new Watcher(dir);
  await w.ready();
  return w;
}

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')));
});

afterAll(async () => {
  await Promise.all(dirs.map((d) => fsp.rm(d, { recursive: true, force: true })));
});

describe('watch mode', () => {
  it('builds once, then reports watch-ready', async () => {
    const w = await started({ 'src/a.txt': 'alpha\n', 'src/b.txt': 'beta\n' });
    const first = w.cycles();
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ initial: true, changed: [] });
    const ready = w.events.findIndex((e) => e.type === 'watch-ready');
    const done = w.events.findIndex((e) => e.type === 'cycle-done');
    expect(done).toBeGreaterThan(-1);
    expect(done).toBeLessThan(ready);
    expect(w.events[ready].patterns).toEqual(expect.arrayContaining(['src/*.txt', 'src/*.note', 'pipeline.yaml', 'toolchain/*.yaml']));
    expect(executed(w.events)).toEqual(['joined', 'upper/a', 'upper/b']);
    expect(await read(w.dir, 'build/all.txt')).toBe('ALPHA\nBETA\n');
  });

  it('an atomic save (temp file + rename, vim backup and swap files) makes one cycle that rebuilds only that item', async () => {
    const w = await started({ 'src/a.txt': 'alpha\n', 'src/b.txt': 'beta\n' });
    const m = w.mark();
    const a = path.join(w.dir, 'src/a.txt');
    // vim: swap file, backup by rename, write the new file, remove the backup.
    await fsp.writeFile(path.join(w.dir, 'src/.a.txt.swp'), 'swap');
    await fsp.rename(a, `${a}~`);
    await fsp.writeFile(path.join(w.dir, 'src/.a.txt.tmp'), 'gamma\n');
    await fsp.rename(path.join(w.dir, 'src/.a.txt.tmp'), a);
    await fsp.rm(`${a}~`);
    await fsp.rm(path.join(w.dir, 'src/.a.txt.swp'));
    const c = await w.cycle(m);
    expect(c.start.changed).toEqual(['src/a.txt']);
    expect(executed(c.events)).toEqual(['joined', 'upper/a']);
    expect(c.done.ok).toBe(true);
    expect(await read(w.dir, 'build/upper/a.txt')).toBe('GAMMA\n');
    expect(await read(w.dir, 'build/all.txt')).toBe('GAMMA\nBETA\n');
    // Nothing else was queued: the next change makes the very next cycle, alone.
    const m2 = w.mark();
    await fsp.writeFile(path.join(w.dir, 'src/b.txt'), 'delta\n');
    const next = await w.cycle(m2);
    expect(next.start.cycle).toBe(c.start.cycle + 1);
    expect(next.start.changed).toEqual(['src/b.txt']);
  });

  it('in-place writes and sed -i are picked up', async () => {
    const w = await started({ 'src/a.txt': 'alpha\n', 'src/b.txt': 'beta\n' });
    let m = w.mark();
    await fsp.writeFile(path.join(w.dir, 'src/b.txt'), 'bravo\n');
    let c = await w.cycle(m, 'src/b.txt');
    expect(executed(c.events)).toEqual(['joined', 'upper/b']);
    expect(await read(w.dir, 'build/upper/b.txt')).toBe('BRAVO\n');
    m = w.mark();
    execFileSync('sed', ['-i', 's/bravo/charlie/', path.join(w.dir, 'src/b.txt')]);
    c = await w.cycle(m, 'src/b.txt');
    expect(c.start.changed).toEqual(['src/b.txt']);
    expect(await read(w.dir, 'build/all.txt')).toBe('ALPHA\nCHARLIE\n');
  });

  it('touching a file without changing it runs nothing', async () => {
    const w = await started({ 'src/a.txt': 'alpha\n', 'src/a.note': 'a note\n' });
    const m = w.mark();
    const now = new Date();
    await fsp.utimes(path.join(w.dir, 'src/a.txt'), now, now);
    await fsp.writeFile(path.join(w.dir, 'src/a.note'), 'a note\n');
    const c = await w.cycle(m);
    expect(c.start.changed.length).toBeGreaterThan(0);
    expect(c.done).toMatchObject({ ok: true, executed: 0, cached: 0 });
    expect(executed(c.events)).toEqual([]);
  });

  it('a deleted source leaves the dataset and its outputs are removed; a new file joins', async () => {
    const w = await started({ 'src/a.txt': 'alpha\n', 'src/b.txt': 'beta\n' });
    let m = w.mark();
    await fsp.rm(path.join(w.dir, 'src/b.txt'));
    let c = await w.cycle(m, 'src/b.txt');
    expect(c.events.some((e) => e.type === 'removed' && e.paths.includes('build/upper/b.txt'))).toBe(true);
    await expect(fsp.stat(path.join(w.dir, 'build/upper/b.txt'))).rejects.toThrow();
    expect(await read(w.dir, 'build/all.txt')).toBe('ALPHA\n');
    m = w.mark();
    await fsp.writeFile(path.join(w.dir, 'src/c.txt'), 'charlie\n');
    c = await w.cycle(m, 'src/c.txt');
    expect(executed(c.events)).toEqual(['joined', 'upper/c']);
    expect(await read(w.dir, 'build/all.txt')).toBe('ALPHA\nCHARLIE\n');
    expect(await tree(w.dir)).toEqual(await cleanBuild(w.dir));
  });

  it('a burst of 50 files coalesces into a few cycles and ends equal to a clean build', async () => {
    const w = await started({ 'src/a.txt': 'alpha\n' });
    const m = w.mark();
    const names = Array.from({ length: 50 }, (_, i) => `src/f${String(i).padStart(2, '0')}.txt`);
    await Promise.all(names.map((n, i) => fsp.writeFile(path.join(w.dir, n), `file ${i}\n`)));
    // Wait until every file has been part of a finished cycle.
    const seen = new Set<string>();
    let last = m;
    while (seen.size < names.length) {
      const c = await w.cycle(last);
      for (const rel of c.start.changed) seen.add(rel);
      last = c.done.index + 1;
    }
    const cycles = w.cycles(m).length;
    expect(cycles).toBeLessThanOrEqual(8);
    expect(await tree(w.dir)).toEqual(await cleanBuild(w.dir));
  });

  it('an edit during a running cycle is picked up by a later cycle', async () => {
    const w = await started({ 'src/a.txt': 'alpha\n', 'src/b.txt': 'beta\n' }, PIPELINE(SLOW_RUN(1)));
    const m = w.mark();
    await fsp.writeFile(path.join(w.dir, 'src/a.txt'), 'slow one\n');
    await w.waitFor((e) => e.type === 'node-start' && e.id === 'upper/a', m);
    const m2 = w.mark();
    await fsp.writeFile(path.join(w.dir, 'src/a.txt'), 'fast two\n');
    await fsp.writeFile(path.join(w.dir, 'src/b.txt'), 'bravo\n');
    const first = await w.waitFor((e) => e.type === 'cycle-done', m2);
    expect(first.cycle).toBe(w.cycles(m)[0].cycle);
    const c = await w.cycle(first.index, 'src/a.txt');
    expect(c.start.changed).toEqual(['src/a.txt', 'src/b.txt']);
    expect(await read(w.dir, 'build/upper/a.txt')).toBe('FAST TWO\n');
    expect(await read(w.dir, 'build/all.txt')).toBe('FAST TWO\nBRAVO\n');
    expect(await tree(w.dir)).toEqual(await cleanBuild(w.dir));
  });

  it('an invalid pipeline.yaml is reported and the watcher goes on; fixing it rebuilds', async () => {
    const w = await started({ 'src/a.txt': 'alpha\n' });
    let m = w.mark();
    await fsp.appendFile(path.join(w.dir, 'pipeline.yaml'), '  broken: [\n');
    const err = await w.waitFor((e) => e.type === 'pipeline-error', m);
    expect(err.diagnostics[0]).toMatchObject({ file: 'pipeline.yaml', severity: 'error' });
    expect(err.diagnostics[0].line).toBeGreaterThan(1);
    // Still watching with the last good graph.
    m = w.mark();
    await fsp.writeFile(path.join(w.dir, 'src/a.txt'), 'again\n');
    await w.cycle(m, 'src/a.txt');
    expect(await read(w.dir, 'build/all.txt')).toBe('AGAIN\n');
    // Fixed, with a new command: the graph reloads and everything downstream reruns.
    m = w.mark();
    await fsp.writeFile(path.join(w.dir, 'pipeline.yaml'), PIPELINE('tr a-z A-Z < "$IN" | rev > "$OUT"'));
    const c = await w.cycle(m, 'pipeline.yaml');
    expect(executed(c.events)).toEqual(['joined', 'upper/a']);
    expect(await read(w.dir, 'build/all.txt')).toBe('NIAGA\n');
    expect(w.child.exitCode).toBe(null);
  });

  it('a failing build is reported and the watcher goes on', async () => {
    const w = await started({ 'src/a.txt': 'alpha\n' }, PIPELINE('if grep -q fail "$IN"; then echo boom >&2; exit 3; fi; tr a-z A-Z < "$IN" > "$OUT"'));
    let m = w.mark();
    await fsp.writeFile(path.join(w.dir, 'src/a.txt'), 'fail\n');
    let c = await w.cycle(m, 'src/a.txt');
    expect(c.done.ok).toBe(false);
    expect(c.done.failed).toEqual([{ id: 'upper/a', message: expect.stringMatching(/code 3: boom/) }]);
    expect(w.child.exitCode).toBe(null);
    m = w.mark();
    await fsp.writeFile(path.join(w.dir, 'src/a.txt'), 'fine\n');
    c = await w.cycle(m, 'src/a.txt');
    expect(c.done.ok).toBe(true);
    expect(await read(w.dir, 'build/all.txt')).toBe('FINE\n');
  });

  it('a save right after a short cycle is never lost (chokidar drops a change within 50 ms of the last)', async () => {
    // Without the raw-event path this lost a save within a few rounds: a cycle that restores from
    // cache or finds no change ends inside chokidar's 50 ms window, and the next save's event is dropped.
    const w = await started({ 'src/a.txt': 'alpha\n' }, PIPELINE('if grep -q fail "$IN"; then echo boom >&2; exit 3; fi; tr a-z A-Z < "$IN" > "$OUT"'));
    const rounds = ['fail\n', 'fine\n', 'fail\n', 'fine\n', 'touch', 'fail\n', 'fine\n', 'touch', 'fail\n', 'fine\n', 'fail\n', 'fine\n'];
    const file = path.join(w.dir, 'src/a.txt');
    let last = 'fine\n';
    for (const [i, r] of rounds.entries()) {
      const m = w.mark();
      if (r === 'touch') {
        const t = new Date(Date.UTC(2001, 0, 1 + i)); // a past time: a new mtime, same content
        await fsp.utimes(file, t, t);
      } else {
        await fsp.writeFile(file, r);
        last = r;
      }
      // The save must bring a cycle that builds it. A cycle that had already begun when the save
      // landed (a re-check of the previous one, on a loaded machine) may come first: then another
      // follows. A lost save brings none, and the wait times out.
      const want = last === 'fine\n';
      let from = m;
      let c = await w.cycle(from, 'src/a.txt');
      for (let extra = 0; c.done.ok !== want && extra < 3; extra++) {
        from = c.done.index + 1;
        c = await w.cycle(from, 'src/a.txt');
      }
      expect(c.done.ok, `round ${i} (${JSON.stringify(r)})`).toBe(want);
    }
    expect(await read(w.dir, 'build/all.txt')).toBe('FINE\n');
  });

  it('a timestamp in the future makes one cycle, not one after every cycle', async () => {
    const w = await started({ 'src/a.txt': 'alpha\n', 'src/b.txt': 'beta\n' });
    const m = w.mark();
    const future = new Date(Date.now() + 3600_000);
    await fsp.utimes(path.join(w.dir, 'src/a.txt'), future, future);
    const c = await w.cycle(m, 'src/a.txt');
    expect(executed(c.events)).toEqual([]);
    // The proof that no cycle is pending: the next one is caused by a real change and names only it.
    const m2 = w.mark();
    await fsp.writeFile(path.join(w.dir, 'src/b.txt'), 'gamma\n');
    const next = await w.cycle(m2);
    expect(next.start.changed).toEqual(['src/b.txt']);
  });

  it('changes to files no target reads start no cycle', async () => {
    const w = await started({ 'src/a.txt': 'alpha\n', 'docs/readme.md': 'hi\n' });
    const m = w.mark();
    const cyclesBefore = w.cycles().length;
    await fsp.writeFile(path.join(w.dir, 'docs/readme.md'), 'changed\n');
    await fsp.writeFile(path.join(w.dir, 'unrelated.txt'), 'x\n');
    await fsp.writeFile(path.join(w.dir, 'src/a.md'), 'not a txt\n');
    await fsp.writeFile(path.join(w.dir, 'src/a.txt~'), 'backup\n');
    await fsp.writeFile(path.join(w.dir, 'src/.a.txt.swp'), 'swap\n');
    await fsp.mkdir(path.join(w.dir, 'src/sub'));
    await fsp.writeFile(path.join(w.dir, 'src/sub/deep.txt'), 'not matched by src/*.txt\n');
    // The proof: the next cycle is caused by a real change and names only it.
    await fsp.writeFile(path.join(w.dir, 'src/a.txt'), 'real\n');
    const c = await w.cycle(m);
    expect(c.start.changed).toEqual(['src/a.txt']);
    expect(w.cycles().length).toBe(cyclesBefore + 1);
    // Toolchain definitions are inputs too.
    const m2 = w.mark();
    await fsp.mkdir(path.join(w.dir, 'toolchain'));
    await fsp.writeFile(path.join(w.dir, 'toolchain/x86_64.yaml'), 'name: x86_64\n');
    expect((await w.cycle(m2)).start.changed).toEqual(['toolchain/x86_64.yaml']);
  });

  it('watches what the scan says it reads: a custom case folder and headers, not the default cases', async () => {
    const pipeline = `version: 1
targets:
  texts: { kind: files, params: { glob: "src/*.cpp", cases: { dir: "{stem}.runs" } } }
  upper: { kind: command, from: texts, params: { run: 'tr a-z A-Z < "$IN" > "$OUT"', outputs: { out: .txt } } }
`;
    const w = await started({ 'src/a.cpp': 'alpha\n', 'src/a.runs/1.txt': 'one\n' }, pipeline);
    const ready = await w.ready();
    expect(ready.patterns).toEqual(expect.arrayContaining(['src/*.cpp', 'src/*.runs/*']));
    expect(ready.patterns).not.toContain('src/*.inputs/*');
    // The default case folder is not read with cases.dir set: no cycle. The proof: the next cycle
    // is caused by the custom case folder's file and names only it.
    const m = w.mark();
    await fsp.mkdir(path.join(w.dir, 'src/a.inputs'));
    await fsp.writeFile(path.join(w.dir, 'src/a.inputs/1.txt'), 'not read\n');
    await fsp.writeFile(path.join(w.dir, 'src/a.runs/1.txt'), 'two\n');
    const c = await w.cycle(m);
    expect(c.start.changed).toEqual(['src/a.runs/1.txt']);
    // A header the scan would inline is watched even before one exists (the files kind's scan
    // declares it; nothing in watch mode knows about headers).
    const m2 = w.mark();
    await fsp.writeFile(path.join(w.dir, 'src/util.h'), '#pragma once\n');
    expect((await w.cycle(m2)).start.changed).toEqual(['src/util.h']);
  });

  it('SIGINT during a cycle exits 0 promptly and leaves no process or temp file', async () => {
    // The node sleeps for 10 minutes: exiting at all within the test's time proves it was not awaited.
    const w = await started({ 'src/a.txt': 'alpha\n' }, PIPELINE(SLOW_RUN(600)));
    const m = w.mark();
    await fsp.writeFile(path.join(w.dir, 'src/a.txt'), 'slow\n');
    await w.waitFor((e) => e.type === 'node-start' && e.id === 'upper/a', m);
    const code = await w.stop('SIGINT');
    expect(code).toBe(0);
    const ev = w.events.slice(m);
    expect(ev.some((e) => e.type === 'cycle-done' && e.interrupted === true)).toBe(true);
    expect(ev.at(-1)?.type).toBe('watch-stopped');
    expect(processesIn(w.dir)).toEqual([]);
    const tmp = await fsp.readdir(path.join(w.dir, 'cache', 'tmp')).catch(() => []);
    expect(tmp).toEqual([]);
    await expect(fsp.stat(path.join(w.dir, 'cache', 'lock'))).rejects.toThrow();
  });

  it('SIGTERM while idle exits 0', async () => {
    const w = await started({ 'src/a.txt': 'alpha\n' });
    expect(await w.stop('SIGTERM')).toBe(0);
  });
});

/** Processes whose cwd or command line points into `dir`. */
function processesIn(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        /* not ours to inspect */
      }
      if (cmd.includes(dir) || cwd.startsWith(dir)) found.push(`${pid}: ${cmd} (cwd ${cwd})`);
    } catch {
      /* gone */
    }
  }
  return found;
}

describe('watch spec', () => {
  const fakeTarget = (name: string, params: Record<string, unknown>): TargetDef => ({
    name, kindName: 'files', kind: { outputs: () => [] } as unknown as TargetDef['kind'], mode: 'source', from: [], with: {},
    params: params as TargetDef['params'], outDir: '', loc: { line: 1, col: 1 },
  });
  const pipelineOf = (root: string, params: Record<string, unknown>): Pipeline => ({
    file: path.join(root, 'pipeline.yaml'), root, defaultTargets: ['src'], warnings: [],
    settings: { jobs: 1, llmConcurrency: 1, buildDir: 'build' },
    targets: new Map([['src', fakeTarget('src', params)]]),
  });

  /** The spec after the `files` kind scanned `root` with these params: what its scan says it reads. */
  const specOf = async (root: string, params: Record<string, unknown>) => {
    const scan = await filesKind.scan({
      projectRoot: root, target: 'src', params: params as TargetDef['params'],
      lstat: (rel) => lstatSync(path.join(root, rel), { throwIfNoEntry: false }),
    });
    return deriveSpec(pipelineOf(root, params), [], new Map([['src', scan]]));
  };

  it('matches exactly the files tinyglobby finds, and their sidecars', async () => {
    const files = [
      'sources/a.cpp', 'sources/b.cc', 'sources/sort/c.cpp', 'sources/sort/deep/d.cpp', 'sources/.hidden.cpp',
      'sources/.git/x.cpp', 'sources/old/e.cpp', 'sources/skip_me.cpp', 'sources/a.cpp~', 'other/f.cpp', 'g.cpp',
      'sources/a.prompt.txt', 'sources/sort/c.prompt.txt', 'other/f.prompt.txt', 'sources/dir.cpp/inner.cpp',
    ];
    const root = await project(Object.fromEntries(files.map((f) => [f, 'x'])));
    const cases: Record<string, unknown>[] = [
      { glob: 'sources/**/*.cpp', exclude: ['sources/old', '**/skip_*'] },
      { glob: ['sources/*.{cpp,cc}', 'g.cpp'] },
      { glob: '**/*.cpp' },
      { glob: 'sources/*' },
      { glob: 'sources/sort' },
    ];
    for (const params of cases) {
      const spec = await specOf(root, params);
      const globs = Array.isArray(params.glob) ? params.glob : [params.glob];
      const expected = new Set<string>();
      for (const g of globs as string[]) for (const f of await glob(g, { cwd: root, ignore: (params.exclude as string[]) ?? [], onlyFiles: true })) expected.add(f);
      const got = files.filter((f) => spec.matchFile(f) && !f.includes('prompt'));
      expect(got.sort(), JSON.stringify(params)).toEqual([...expected].filter((f) => !f.includes('prompt')).sort());
      // Every folder holding a match is watched.
      for (const f of expected) {
        const parts = f.split('/');
        for (let i = 1; i < parts.length; i++) expect(spec.couldContain(parts.slice(0, i).join('/')), f).toBe(true);
      }
    }
    const spec = await specOf(root, { glob: 'sources/**/*.cpp', sidecars: { prompt: '{stem}.prompt.txt' } });
    expect(spec.matchFile('sources/a.prompt.txt')).toBe(true);
    expect(spec.matchFile('sources/sort/c.prompt.txt')).toBe(true);
    expect(spec.matchFile('other/f.prompt.txt')).toBe(false);
    expect(spec.matchFile('pipeline.yaml')).toBe(true);
    expect(spec.matchFile('toolchain/x86_64.yaml')).toBe(true);
    expect(spec.couldContain('other')).toBe(false);
    expect(spec.couldContain('cache')).toBe(false);
    expect(spec.itemOf('sources/sort/c.cpp')).toBe('sort/c');
    // Test cases belong to their program's item too (the files kind's default cases).
    expect(spec.matchFile('sources/a.stdin.txt')).toBe(true);
    expect(spec.matchFile('sources/sort/c.inputs/1-small.txt')).toBe(true);
    expect(spec.couldContain('sources/sort/c.inputs')).toBe(true);
    expect(spec.matchFile('other/f.stdin.txt')).toBe(false);
    const noCases = await specOf(root, { glob: 'sources/**/*.cpp', cases: false });
    expect(noCases.matchFile('sources/a.stdin.txt')).toBe(false);
    expect(noCases.matchFile('sources/sort/c.inputs/1-small.txt')).toBe(false);
  });
});
