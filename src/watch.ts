/**
 * Watch mode (`asmgraph --watch [targets]`): build once, then keep the targets built while their
 * inputs change. One incremental build (a "cycle") per burst of changes:
 *
 *   chokidar event → filter (spec.ts: what each source target's last scan said it reads)
 *     → ChangeQueue (30 ms quiet window, 400 ms max wait) → cycle → runBuild → one printed block
 *
 * A change arriving during a cycle stays queued and makes the next cycle; after each cycle the
 * changed files are stat'ed again, so a write chokidar folded into an earlier event (it drops
 * `change` events within 50 ms of each other) is never lost, and chokidar's unthrottled raw
 * events catch a save that lands inside that 50 ms window after a short cycle. pipeline.yaml changes reload the
 * graph (an invalid file keeps the last good graph). SIGINT/SIGTERM abort the running cycle,
 * wait for it, close the watcher and return 0.
 */
import { promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import { runBuild } from './commands/build.js';
import { formatMs } from './display.js';
import { errorMessage } from './errors.js';
import type { EngineEvent } from './engine/events.js';
import { type Diagnostic, formatDiagnostic, PipelineError, UsageError } from './pipeline/diagnostics.js';
import type { KindSource } from './pipeline/load.js';
import type { Pipeline } from './pipeline/model.js';
import type { RunFlags } from './task-api.js';
import { checkTargets, openPipeline } from './project.js';
import { ChangeQueue } from './watch/queue.js';
import { CycleLog, formatCycle } from './watch/report.js';
import { deriveSpec, sameSource, type SourceWatch, type WatchSpec } from './watch/spec.js';

export interface WatchOptions {
  jobs?: number;
  json: boolean;
  quiet: boolean;
  /** `--yes` / `--max-cost` for LLM targets; without them watch mode never spends money. */
  flags?: RunFlags;
  /** Every engine event and watch event (`cycle-start`, `cycle-done`, …), e.g. for `serve`'s page. */
  onEvent?: (e: { type: string } & Record<string, unknown>) => void;
  /** The graph in use, at start and after each good reload of pipeline.yaml. */
  onPipeline?: (p: Pipeline) => void;
}

/** A file's identity for "did it change since?": size, times, inode; null when missing. */
type Snap = { size: number; mtimeMs: number; ctimeMs: number; ino: number } | null;

/** Timestamps this close to the snapshot may hide a later write in the same clock tick. */
const RACY_MS = 20;

async function snap(abs: string): Promise<Snap> {
  try {
    const s = await fsp.stat(abs);
    return { size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino };
  } catch {
    return null;
  }
}

function sameSnap(a: Snap, b: Snap): boolean {
  if (a === null || b === null) return a === b;
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

const toPosix = (s: string) => s.split(path.sep).join('/');

class WatchSession {
  private pipeline!: Pipeline;
  private spec!: WatchSpec;
  /** Per source target, what its last scan said it reads (the build's `source-scanned` events). */
  private readonly scans = new Map<string, SourceWatch>();
  private watcher: FSWatcher | undefined;
  private readonly queue = new ChangeQueue(() => this.kick());
  private running: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private stopping = false;
  private resolveStop!: () => void;
  private readonly stopped = new Promise<void>((r) => (this.resolveStop = r));
  private cycleNo = 0;
  private lastWarnings = '';
  private live = '';

  constructor(
    private readonly kinds: KindSource,
    private readonly file: string | undefined,
    private readonly targets: string[],
    private readonly o: WatchOptions,
  ) {}

  // ------------------------------------------------------------------ output

  private json(obj: { type: string } & Record<string, unknown>): void {
    this.o.onEvent?.(obj);
    if (this.o.json) process.stdout.write(`${JSON.stringify(obj)}\n`);
  }

  private print(lines: string[]): void {
    if (this.o.json || !lines.length) return;
    this.clearLive();
    process.stderr.write(`${lines.join('\n')}\n`);
  }

  private clearLive(): void {
    if (this.live) {
      process.stderr.write('\r\x1b[2K');
      this.live = '';
    }
  }

  private showLive(text: string): void {
    if (this.o.json || this.o.quiet || !process.stderr.isTTY) return;
    this.live = text;
    process.stderr.write(`\r\x1b[2K${text.slice(0, (process.stderr.columns || 80) - 1)}`);
  }

  private pipelineError(diagnostics: Diagnostic[]): void {
    this.json({ type: 'pipeline-error', diagnostics });
    this.print([
      `[${new Date().toTimeString().slice(0, 8)}] ${this.spec.pipelineRel} is invalid; still using the last good graph`,
      ...diagnostics.map((d) => `  ${formatDiagnostic(d)}`),
    ]);
  }

  private warnings(list: string[]): void {
    const key = list.join('\n');
    if (key === this.lastWarnings) return;
    this.lastWarnings = key;
    if (!this.o.json) this.print(list.map((w) => `warning: ${w}`));
  }

  // ------------------------------------------------------------------ lifecycle

  async run(): Promise<number> {
    this.pipeline = await openPipeline(this.kinds, this.file);
    checkTargets(this.pipeline, this.targets);
    // Nothing scanned yet: the whole project is watched until the first build says what it reads.
    this.spec = deriveSpec(this.pipeline, this.targets, this.scans);
    const onSignal = () => this.stop();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    this.o.onPipeline?.(this.pipeline);
    try {
      for (const w of [...this.pipeline.warnings, ...this.spec.warnings]) this.print([`warning: ${w}`]);
      this.watcher = await this.startWatcher(this.spec);
      if (!this.stopping) {
        this.running = this.cycle([], true).finally(() => (this.running = undefined));
        await this.running;
      }
      if (!this.stopping) {
        const requested = this.targets.length ? this.targets : this.pipeline.defaultTargets;
        this.json({ type: 'watch-ready', root: this.pipeline.root, targets: requested, patterns: this.spec.patterns });
        this.print([`watching ${this.spec.patterns.join(', ')} for ${requested.join(', ')} (Ctrl-C to stop)`]);
        this.queue.arm();
      }
      await this.stopped;
      await this.running;
    } finally {
      this.queue.dispose();
      await this.watcher?.close();
      this.watcher = undefined;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      this.clearLive();
    }
    this.json({ type: 'watch-stopped' });
    this.print(['stopped watching']);
    return 0;
  }

  private stop(): void {
    if (this.stopping) {
      // A second Ctrl-C while the running cycle winds down: leave now.
      process.exit(130);
    }
    this.stopping = true;
    this.queue.dispose();
    this.abort?.abort();
    this.resolveStop();
  }

  private async startWatcher(spec: WatchSpec): Promise<FSWatcher> {
    const root = spec.root;
    const ignored = (abs: string, stats?: Stats): boolean => {
      const rel = toPosix(path.relative(root, abs));
      if (rel === '') return false;
      if (stats?.isDirectory()) return !spec.couldContain(rel);
      if (stats?.isFile()) return !spec.matchFile(rel);
      return !(spec.couldContain(rel) || spec.matchFile(rel));
    };
    // atomic: false: we coalesce unlink+add ourselves, without chokidar's 100 ms unlink delay
    // and its blanket ignoring of `file~` names (which a glob may well match).
    const w = chokidarWatch(spec.roots, { ignoreInitial: true, atomic: false, ignored, followSymlinks: true });
    const consider = (abs: string) => {
      const rel = toPosix(path.relative(this.spec.root, abs));
      if (this.spec.matchFile(rel)) this.queue.add(rel);
    };
    w.on('all', (event, abs) => {
      if (this.stopping || (event !== 'add' && event !== 'change' && event !== 'unlink')) return;
      consider(abs);
    });
    // chokidar drops a 'change' for a file within 50 ms of its previous one (its throttle), so a
    // save right after a short cycle would be lost. Its raw events are not throttled: every
    // inotify event on a watched file queues that file too (the queue de-duplicates, and a cycle
    // for a file that did not really change says "no change"). fs.watch on a file names the file
    // itself; on a folder, the entry in it.
    w.on('raw', (_event, evPath, details) => {
      const watchedPath = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
      if (this.stopping || typeof watchedPath !== 'string') return;
      const watched = path.resolve(root, watchedPath);
      consider(!evPath || path.basename(watched) === evPath ? watched : path.join(watched, evPath));
    });
    w.on('error', (err) => {
      this.json({ type: 'watch-error', message: errorMessage(err) });
      this.print([`watch error: ${errorMessage(err)}`]);
    });
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
    return w;
  }

  private kick(): void {
    if (this.running || this.stopping || this.queue.size === 0) return;
    this.running = (async () => {
      try {
        await this.cycle(this.queue.take(), false);
      } catch (err) {
        // Never let a cycle take the watcher down.
        this.print([`error: ${errorMessage(err)}`]);
        this.json({ type: 'watch-error', message: errorMessage(err) });
      } finally {
        this.running = undefined;
        if (!this.stopping) this.queue.arm();
      }
    })();
  }

  // ------------------------------------------------------------------ cycles

  /** Reloads pipeline.yaml; on failure keeps the last good graph. */
  private async reload(): Promise<boolean> {
    let p: Pipeline;
    try {
      p = await openPipeline(this.kinds, this.pipeline.file);
      checkTargets(p, this.targets);
    } catch (err) {
      if (err instanceof PipelineError) this.pipelineError(err.diagnostics);
      else {
        const message = err instanceof UsageError ? err.message : errorMessage(err);
        this.pipelineError([{ file: this.spec.pipelineRel, line: 1, col: 1, path: '', message, severity: 'error' }]);
      }
      return false;
    }
    // A source target that is new or reads otherwise now is watched broadly until it is scanned.
    for (const name of [...this.scans.keys()]) {
      const was = this.pipeline.targets.get(name);
      const now = p.targets.get(name);
      if (!was || !now || !sameSource(was, now)) this.scans.delete(name);
    }
    this.pipeline = p;
    this.o.onPipeline?.(p);
    const spec = await this.respec();
    this.json({ type: 'pipeline-reloaded', patterns: spec.patterns });
    this.warnings([...p.warnings, ...spec.warnings]);
    return true;
  }

  /** The spec for the pipeline and the scans known now; a changed one gets its own watcher. */
  private async respec(): Promise<WatchSpec> {
    const spec = deriveSpec(this.pipeline, this.targets, this.scans);
    if (spec.key !== this.spec.key || spec.root !== this.spec.root) {
      // The new watcher is ready before the old one closes: no gap where a change could slip by.
      const next = await this.startWatcher(spec);
      const old = this.watcher;
      this.watcher = next;
      this.spec = spec;
      await old?.close();
      // Changes the broader watch queued that the new one would not have seen start no cycle.
      this.queue.retain((rel) => spec.matchFile(rel));
    } else {
      this.spec = spec;
    }
    return spec;
  }

  private async cycle(changed: string[], initial: boolean): Promise<void> {
    const t0 = Date.now();
    let reloaded = false;
    if (changed.includes(this.spec.pipelineRel)) {
      const ok = await this.reload();
      reloaded = ok;
      // Only the (now invalid) pipeline changed: nothing to build with the old graph.
      if (!ok && changed.every((c) => c === this.spec.pipelineRel)) return;
    }
    if (this.stopping) return;
    const root = this.spec.root;
    const snapAt = Date.now();
    const before = new Map<string, Snap>();
    await Promise.all(changed.map(async (rel) => before.set(rel, await snap(path.join(root, rel)))));

    const n = ++this.cycleNo;
    this.json({ type: 'cycle-start', cycle: n, changed, initial });
    const log = new CycleLog();
    const ac = new AbortController();
    this.abort = ac;
    if (this.stopping) ac.abort();
    let error: string | undefined;
    let done = 0;
    const listener = (e: EngineEvent) => {
      if (e.type === 'source-scanned') this.scans.set(e.target, { watch: e.watch, watchIgnore: e.watchIgnore });
      log.add(e);
      this.o.onEvent?.(e as EngineEvent & Record<string, unknown>);
      if (this.o.json) process.stdout.write(`${JSON.stringify(e)}\n`);
      else {
        if (e.type === 'lock-wait') this.print([`waiting for ${e.holder} (it holds the project lock)…`]);
        if (e.type === 'node-done' && !e.id.includes('@')) {
          done++;
          this.showLive(`building… ${done} nodes done · ${formatMs(Date.now() - t0)}`);
        }
        if (e.type === 'progress') this.showLive(`building… ${e.id}: ${e.line}`);
      }
    };
    try {
      await runBuild(this.pipeline, { targets: this.targets, jobs: this.o.jobs, keepGoing: true, flags: this.o.flags, signal: ac.signal }, listener);
    } catch (err) {
      if (err instanceof PipelineError) error = err.diagnostics.map(formatDiagnostic).join('\n  ');
      else error = errorMessage(err);
    } finally {
      this.abort = undefined;
    }
    const ms = Date.now() - t0;
    // What the scans said they read may have changed (a first build, a new glob): watch that.
    if (!this.stopping && this.watcher) await this.respec();

    // Did a changed file move on while we built (chokidar may have folded that write into the
    // event we already took)? Then it needs another cycle. Unchanged files whose events arrived
    // during the cycle were already seen by this build: drop them.
    const deleted = new Set<string>();
    await Promise.all(changed.map(async (rel) => {
      const was = before.get(rel) ?? null;
      const now = await snap(path.join(root, rel));
      if (now === null) deleted.add(rel);
      // Racy: written in the same moments as the snapshot, so a later write may share its
      // timestamp. A timestamp in the future (touch -d, clock skew) is not that, and re-queuing
      // it would make a cycle after every cycle until the clock catches up.
      const racy = was !== null && was.mtimeMs > snapAt - RACY_MS && was.mtimeMs <= snapAt + RACY_MS;
      if (!sameSnap(was, now) || racy) this.queue.add(rel);
      else this.queue.forget(rel);
    }));

    // While the person reads the result, load what later cycles would otherwise load on first use.
    if (initial) for (const t of this.pipeline.targets.values()) void t.kind.warm?.().catch(() => {});
    const s = log.summary;
    this.json({
      type: 'cycle-done', cycle: n, ms, ok: !error && !!s?.ok,
      ...(s ? { executed: s.executed, cached: s.cached, upToDate: s.upToDate, interrupted: s.interrupted } : {}),
      ...(s?.failed.length ? { failed: s.failed } : {}),
      ...(error ? { error } : {}),
    });
    if (!this.o.json) {
      this.clearLive();
      this.warnings(log.warnings);
      const labels = new Map<string, string>();
      for (const rel of changed) {
        const item = this.spec.itemOf(rel);
        if (item !== undefined && !labels.has(item)) labels.set(item, rel);
      }
      this.print(formatCycle(log, { changed, deleted, labels, order: new Map([...this.pipeline.targets.keys()].map((t, i) => [t, i])), ms, initial, reloaded, error }, this.o.quiet ? 'quiet' : 'normal'));
    }
  }
}

/** `kinds`: where the pipeline's kinds come from (the command line hands over tasks/registry.ts). */
export async function watch(kinds: KindSource, file: string | undefined, targets: string[], o: WatchOptions): Promise<number> {
  return new WatchSession(kinds, file, targets, o).run();
}
