/**
 * Consumers of the engine's event stream: a terminal display (a live status line on a TTY,
 * plain lines otherwise) and NDJSON for --json. Both end with the build summary.
 */
import type { BuildSummary, EngineEvent, Listener } from './engine/events.js';

type LogUpdateModule = typeof import('log-update');
let logUpdate: LogUpdateModule | undefined;

/**
 * Loads the live-line support (log-update and its ANSI helpers: ~40 ms of start-up), which only
 * a terminal needs. Until it is loaded, a terminal display prints plain lines.
 */
export async function prepareTerminal(): Promise<void> {
  logUpdate ??= await import('log-update');
}

export type Verbosity = 'quiet' | 'normal' | 'verbose';

/**
 * Colour for failures and rejections: on a terminal, off with NO_COLOR (https://no-color.org) and
 * off a terminal; FORCE_COLOR (any value but 0/false) turns it on anywhere, FORCE_COLOR=0 off.
 */
export function colourEnabled(out: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return !!out.isTTY;
}

const paint = (code: number) => (on: boolean, text: string) => (on ? `\x1b[${code}m${text}\x1b[39m` : text);
const red = paint(31);
const yellow = paint(33);

/**
 * The ETA from measured durations per target: each target's remaining nodes cost what its
 * executed ones took on average (a target with none measured yet: the mean over all executed
 * nodes), spread over the CPU jobs. Node counts alone mix 3 ms dataset nodes with 1 s validations.
 */
export class EtaModel {
  private readonly totals = new Map<string, number>();
  private readonly done = new Map<string, number>();
  private readonly measured = new Map<string, { ms: number; n: number }>();
  private jobs = 1;

  onEvent(e: EngineEvent): void {
    if (e.type === 'build-start') this.jobs = Math.max(1, e.jobs);
    else if (e.type === 'target-items') this.totals.set(e.target, e.items);
    else if (e.type === 'node-done' && !e.id.includes('@')) {
      this.done.set(e.target, (this.done.get(e.target) ?? 0) + 1);
      if (e.outcome === 'executed') {
        const m = this.measured.get(e.target) ?? { ms: 0, n: 0 };
        m.ms += e.durationMs;
        m.n++;
        this.measured.set(e.target, m);
      }
    }
  }

  /** Estimated milliseconds left, or undefined before anything executed. */
  remainingMs(): number | undefined {
    let ms = 0;
    let n = 0;
    for (const m of this.measured.values()) {
      ms += m.ms;
      n += m.n;
    }
    if (!n) return undefined;
    const overall = ms / n;
    let work = 0;
    for (const [t, total] of this.totals) {
      const left = Math.max(0, total - (this.done.get(t) ?? 0));
      const m = this.measured.get(t);
      work += left * (m ? m.ms / m.n : overall);
    }
    return Math.round(work / this.jobs);
  }
}

export interface Display {
  listener: Listener;
  /** Prints a line outside the live status line. */
  line(text: string): void;
  close(): void;
}

/**
 * One JSON object per line. Lines are written in batches (at the end of the current turn of the
 * event loop, or every 64 KiB): a no-op build of 10,000 nodes makes one write, not 10,000.
 */
export function jsonDisplay(out: NodeJS.WritableStream = process.stdout): Display {
  let pending: string[] = [];
  let size = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (!pending.length) return;
    const chunk = pending.join('');
    pending = [];
    size = 0;
    out.write(chunk);
  };
  return {
    listener: (e) => {
      const line = `${JSON.stringify(e)}\n`;
      pending.push(line);
      size += line.length;
      if (size >= 65536) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    line: () => {},
    close: flush,
  };
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatSummary(s: BuildSummary): string[] {
  const lines: string[] = [];
  const rejected = Object.entries(s.rejected).sort((a, b) => b[1] - a[1]);
  const rejectedCount = rejected.reduce((n, [, c]) => n + c, 0);
  if (s.dryRun) {
    const run = s.wouldRun ? `${s.wouldRun} of ${s.total} nodes would run` : s.cached ? 'nothing would run' : `nothing to do: all ${s.upToDate} nodes up to date`;
    lines.push(s.wouldRun || s.cached ? `dry run: ${run}; ${s.cached} would be restored from cache; ${s.upToDate} up to date` : `dry run: ${run}`);
  } else if (s.wouldRun || (s.executed === 0 && s.cached === 0 && s.wouldRun === 0 && s.ok && s.total > 0)) {
    if (s.wouldRun) lines.push(`dry run: ${s.wouldRun} of ${s.total} nodes would run; ${s.cached} would be restored from cache; ${s.upToDate} up to date`);
    else lines.push(`nothing to do: all ${s.upToDate} nodes up to date (${formatMs(s.wallMs)})`);
  } else {
    const parts = [`${s.executed} executed`, `${s.cached} restored from cache`, `${s.upToDate} up to date`];
    // Every node in exactly one part, so the parts add up to the total.
    if (s.propagated && (s.failed.length || s.skipped)) parts.push(`${s.propagated} with a rejected input`);
    if (s.failed.length) parts.push(`${s.failed.length} failed`);
    if (s.skipped) parts.push(`${s.skipped} not started`);
    lines.push(`${s.total} nodes: ${parts.join(', ')} (${formatMs(s.wallMs)})`);
  }
  if (rejectedCount) lines.push(`rejected: ${rejectedCount} (${rejected.map(([r, c]) => `${r} ${c}`).join(', ')})${s.propagated ? `; ${s.propagated} downstream nodes skipped their rejected inputs` : ''}`);
  if (s.failed.length) {
    lines.push(`FAILED: ${s.failed.length} node${s.failed.length > 1 ? 's' : ''}${s.skipped ? `; ${s.skipped} not started` : ''}`);
    for (const line of groupedFailures(s.failed, 20)) lines.push(`  ${line}`);
  }
  if (s.interrupted) lines.push('interrupted: the store is consistent; run again to finish');
  return lines;
}

export function terminalDisplay(opts: { verbosity: Verbosity; explain: boolean; tty?: boolean; out?: NodeJS.WriteStream; colour?: boolean }): Display {
  const out = opts.out ?? process.stderr;
  const tty = opts.tty ?? !!out.isTTY;
  const colour = opts.colour ?? colourEnabled({ isTTY: tty });
  const eta = new EtaModel();
  /** Running nodes, oldest first: the live line names the newest. */
  const running = new Set<string>();
  const status = { total: 0, done: 0, running: 0, cached: 0, rejected: 0, start: Date.now() };
  // log-update redraws the status line in place (and copes with lines wider than the terminal).
  const live = tty && logUpdate ? logUpdate.createLogUpdate(out, { showCursor: true }) : undefined;
  let shown = false;
  let lastDraw = 0;
  const clearLive = () => {
    if (live && shown) {
      live.clear();
      shown = false;
    }
  };
  const print = (text: string) => {
    const wasShown = shown;
    clearLive();
    out.write(`${text}\n`);
    if (wasShown) draw(true);
  };
  const draw = (force = false) => {
    if (!tty || opts.verbosity === 'quiet') return;
    const now = Date.now();
    if (!force && now - lastDraw < 80) return;
    lastDraw = now;
    const elapsed = now - status.start;
    const left = status.total > status.done ? eta.remainingMs() : undefined;
    const etaText = left !== undefined ? ` · ETA ${formatMs(left)}` : '';
    const names = [...running];
    const current = names.length ? ` ${names[names.length - 1]}${names.length > 1 ? ` (+${names.length - 1})` : ''}` : '';
    live!(`[${status.done}/${status.total}]${current} · running ${status.running} · from cache ${status.cached} · rejected ${status.rejected} · ${formatMs(elapsed)}${etaText}`);
    shown = true;
  };
  const listener = (e: EngineEvent) => {
    eta.onEvent(e);
    if (e.type === 'node-start') running.add(e.id);
    else if (e.type === 'node-done') running.delete(e.id);
    switch (e.type) {
      case 'build-start':
        status.start = e.time;
        break;
      case 'lock-wait':
        print(`waiting for ${e.holder} to finish (another asmgraph holds the project lock)…`);
        break;
      case 'target-items':
        break;
      case 'node-start':
        status.running++;
        if (!tty && opts.verbosity === 'verbose') print(`start ${e.id}`);
        draw();
        break;
      case 'node-done': {
        if (e.id.includes('@')) {
          if (opts.verbosity === 'verbose') print(`${e.outcome} ${e.id} (${formatMs(e.durationMs)})`);
          break;
        }
        status.done++;
        if (e.outcome === 'executed') status.running--;
        if (e.outcome === 'cached' || e.outcome === 'would-restore') status.cached++;
        if (e.status === 'rejected' && e.outcome !== 'propagated') status.rejected++;
        const showWhy = (opts.explain || e.outcome === 'would-run') && e.why?.length;
        if (e.outcome === 'would-run') {
          if (opts.verbosity !== 'quiet') print(`would run ${e.id}${showWhy ? `: ${e.why!.join('; ')}` : ''}`);
        } else if (e.outcome === 'would-restore') {
          if (opts.verbosity !== 'quiet') {
            const verdict = e.status === 'rejected' ? ` (rejected: ${e.reason})` : '';
            print(`would restore ${e.id} from cache${verdict}${showWhy ? `: ${e.why!.join('; ')}` : ''}`);
          }
        } else if (e.outcome === 'failed') {
          print(red(colour, `FAILED ${e.id}: ${e.message ?? ''}`));
        } else if (e.outcome === 'cached' && e.status === 'rejected' && opts.verbosity !== 'verbose') {
          // A rejection restored from the cache replays its message, as if it had just run.
          if (opts.verbosity !== 'quiet') print(`restored ${e.id} from cache  ${yellow(colour, `✗ ${e.reason}${e.message ? `: ${firstLine(e.message)}` : ''}`)}`);
          if (opts.explain && e.why?.length) for (const w of e.why) print(`    why: ${w}`);
        } else if (e.outcome === 'executed' || (opts.verbosity === 'verbose' && e.outcome !== 'up-to-date')) {
          if (opts.verbosity !== 'quiet') {
            const verdict = e.status === 'rejected' ? `  ${yellow(colour, `✗ ${e.reason}${e.message ? `: ${firstLine(e.message)}` : ''}`)}` : '';
            if (!tty || e.status === 'rejected' || opts.verbosity === 'verbose' || opts.explain) print(`${e.outcome} ${e.id} (${formatMs(e.durationMs)})${verdict}`);
          }
          if (opts.explain && e.why?.length) for (const w of e.why) print(`    why: ${w}`);
        } else if (opts.explain && e.why?.length && opts.verbosity !== 'quiet') {
          print(`${e.outcome} ${e.id}`);
          for (const w of e.why) print(`    why: ${w}`);
        }
        draw(status.done === status.total);
        break;
      }
      case 'removed':
        if (opts.verbosity !== 'quiet') for (const p of e.paths) print(`removed ${p}`);
        break;
      case 'warning':
        print(yellow(colour, `warning: ${e.message}`));
        break;
      case 'progress':
        if (opts.verbosity !== 'quiet') print(`${e.id}: ${e.line}`);
        break;
      case 'report':
        if (opts.verbosity !== 'quiet') for (const l of e.lines) print(l);
        break;
      case 'build-done':
        clearLive();
        for (const l of formatSummary(e.summary)) print(/^(FAILED|  )/.test(l) && e.summary.failed.length ? red(colour, l) : /^rejected:/.test(l) ? yellow(colour, l) : l);
        break;
    }
    if (e.type === 'target-items') {
      status.total = 0;
    }
  };
  // Totals arrive as targets expand; keep a running sum.
  const totals = new Map<string, number>();
  const wrapped: Listener = (e) => {
    if (e.type === 'target-items') {
      totals.set(e.target, e.items);
      listener(e);
      status.total = [...totals.values()].reduce((a, b) => a + b, 0);
      return;
    }
    listener(e);
  };
  return { listener: wrapped, line: print, close: clearLive };
}

/**
 * One line per distinct failure message: a missing compiler that fails 70 nodes is one line with
 * its count and the first few node names, not 70 identical lines.
 */
export function groupedFailures(failed: { id: string; message: string }[], max: number): string[] {
  const groups = new Map<string, string[]>();
  for (const f of failed) {
    const ids = groups.get(f.message);
    if (ids) ids.push(f.id);
    else groups.set(f.message, [f.id]);
  }
  const out: string[] = [];
  for (const [message, ids] of groups) {
    if (out.length >= max) {
      out.push(`… and ${groups.size - max} other failures`);
      break;
    }
    const who = ids.length === 1 ? ids[0] : `${ids.length} nodes (${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', …' : ''})`;
    out.push(`${who}: ${message}`);
  }
  return out;
}

/** The line of a message that says what is wrong (a tool's `…: error: …`), else its first line. */
function firstLine(s: string): string {
  const lines = s.split('\n').filter((x) => x.trim());
  const l = lines.find((x) => /\berror\b/.test(x)) ?? lines[0] ?? '';
  return l.length > 160 ? `${l.slice(0, 157)}…` : l;
}
