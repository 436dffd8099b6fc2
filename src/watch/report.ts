/**
 * One concise block per watch cycle, built from the engine's events: what changed, each touched
 * item's verdict per target, what ran, how long it took.
 */
import type { BuildSummary, EngineEvent } from '../engine/events.js';
import { formatMs } from '../display.js';

type NodeDone = Extract<EngineEvent, { type: 'node-done' }>;

const MAX_ITEMS = 20;
const MAX_CHANGED = 6;
/** More fine items than this are summarized after the first MAX_OK_SHOWN. */
const MAX_OK = 8;
const MAX_OK_SHOWN = 4;

export interface CycleFacts {
  changed: string[];
  /** Changed files that no longer exist. */
  deleted: Set<string>;
  /** Target name → position in pipeline.yaml, to order verdicts. */
  order?: Map<string, number>;
  /** Item key → changed source file, for labels. */
  labels: Map<string, string>;
  ms: number;
  initial: boolean;
  /** pipeline.yaml changed and was reloaded in this cycle. */
  reloaded?: boolean;
  /** A thrown error (the build could not run). */
  error?: string;
}

export class CycleLog {
  readonly nodes: NodeDone[] = [];
  readonly removed: string[] = [];
  readonly warnings: string[] = [];
  readonly reports = new Map<string, string[]>();
  summary?: BuildSummary;

  add(e: EngineEvent): void {
    switch (e.type) {
      case 'node-done':
        if (!e.id.includes('@')) this.nodes.push(e);
        break;
      case 'removed':
        this.removed.push(...e.paths);
        break;
      case 'warning':
        this.warnings.push(e.message);
        break;
      case 'report':
        this.reports.set(e.target, e.lines);
        break;
      case 'build-done':
        this.summary = e.summary;
        break;
      default:
        break;
    }
  }

  /** Did the cycle change anything or say anything worth a block? */
  get eventful(): boolean {
    const s = this.summary;
    return !s || s.executed > 0 || s.cached > 0 || s.failed.length > 0 || s.interrupted || this.removed.length > 0;
  }
}

function clock(d = new Date()): string {
  return d.toTimeString().slice(0, 8);
}

/** The line that says most: the first one naming an error (compilers lead with context lines), else the first. */
function firstLine(s: string | undefined): string {
  const all = (s ?? '').split('\n').filter((x) => x.trim());
  const l = all.find((x) => /\berror\b/i.test(x)) ?? all[0] ?? '';
  return l.length > 120 ? `${l.slice(0, 117)}…` : l.trim();
}

function changedList(f: CycleFacts): string {
  const shown = f.changed.slice(0, MAX_CHANGED).map((c) => (f.deleted.has(c) ? `${c} (deleted)` : c));
  const more = f.changed.length - shown.length;
  return shown.join(', ') + (more > 0 ? ` and ${more} more` : '');
}

function verdict(e: NodeDone, withMessage = true): string {
  const tok = typeof e.meta?.tokens === 'number' ? ` ${e.meta.tokens} tok` : '';
  if (e.outcome === 'failed' || e.status === 'failed') return `${e.target} FAILED: ${firstLine(e.message)}`;
  if (e.outcome === 'propagated') return `${e.target} –`;
  if (e.status === 'rejected') return `${e.target} ✗ ${e.reason ?? 'rejected'}${withMessage && e.message ? `: ${firstLine(e.message)}` : ''}`;
  return `${e.target} ✓${tok}`;
}

/** One item's verdicts in pipeline order; a rejection message repeated by a later target is shown once. */
function verdicts(list: NodeDone[], order: Map<string, number>): string {
  const sorted = [...list].sort((a, b) => (order.get(a.target) ?? 1e9) - (order.get(b.target) ?? 1e9));
  const said = new Set<string>();
  return sorted.map((e) => {
    const msg = firstLine(e.message);
    const fresh = !said.has(msg);
    said.add(msg);
    return verdict(e, fresh);
  }).join('  ');
}

/** The block printed after a cycle (lines without trailing newlines). */
export function formatCycle(log: CycleLog, f: CycleFacts, verbosity: 'quiet' | 'normal'): string[] {
  const head = `[${clock()}] ${f.initial ? 'initial build' : changedList(f)}`;
  if (f.error) return [head, `  error: ${f.error}`, `  (${formatMs(f.ms)}; still watching)`];
  const s = log.summary;
  if (!log.eventful) {
    const what = f.initial ? 'everything up to date' : f.reloaded ? 'graph reloaded; nothing to rebuild' : 'no change';
    return verbosity === 'quiet' ? [] : [`${head}: ${what} (${formatMs(f.ms)})`];
  }

  // Group node results by item (whole-collection nodes by target).
  const byItem = new Map<string, NodeDone[]>();
  const whole: NodeDone[] = [];
  for (const e of log.nodes) {
    if (e.item === undefined) whole.push(e);
    else {
      let list = byItem.get(e.item);
      if (!list) byItem.set(e.item, (list = []));
      list.push(e);
    }
  }
  const isTouched = (e: NodeDone) => e.outcome !== 'up-to-date';
  const isBad = (e: NodeDone) => e.status !== 'ok' && e.outcome !== 'propagated';
  const rows: { label: string; bad: boolean; text: string }[] = [];
  for (const [item, list] of byItem) {
    if (!list.some(isTouched)) continue;
    const label = f.labels.get(item) ?? item;
    rows.push({ label, bad: list.some(isBad), text: verdicts(list, f.order ?? new Map()) });
  }
  rows.sort((a, b) => Number(b.bad) - Number(a.bad) || a.label.localeCompare(b.label));
  const problems = rows.filter((r) => r.bad).length;
  const lines = [head];
  if (verbosity === 'quiet' && problems === 0 && !s?.failed.length) return [];
  // Problems always (up to MAX_ITEMS); fine items in full only when there are few of them.
  const bad = rows.filter((r) => r.bad);
  const good = verbosity === 'quiet' ? [] : rows.filter((r) => !r.bad);
  const shown = [...bad.slice(0, MAX_ITEMS), ...good.slice(0, good.length > MAX_OK ? MAX_OK_SHOWN : MAX_OK)];
  const width = Math.min(40, Math.max(0, ...shown.map((r) => r.label.length)));
  for (const r of shown) lines.push(`  ${r.label.padEnd(width)}  ${r.text}`);
  if (bad.length > MAX_ITEMS) lines.push(`  … and ${bad.length - MAX_ITEMS} more rejected or failed items`);
  if (good.length > MAX_OK) lines.push(`  … and ${good.length - MAX_OK_SHOWN} more items ✓`);
  for (const e of whole) {
    if (!isTouched(e) && !isBad(e)) continue;
    if (verbosity === 'quiet' && !isBad(e)) continue;
    lines.push(`  ${verdict(e)}`);
    // A report's first line is its headline; the full report is in the build's outputs.
    const report = log.reports.get(e.target);
    if (report?.length) lines.push(`    ${report[0]}`);
  }
  if (log.removed.length && verbosity !== 'quiet') {
    const r = log.removed;
    lines.push(`  removed ${r.slice(0, 4).join(', ')}${r.length > 4 ? ` and ${r.length - 4} more` : ''}`);
  }
  for (const fl of s?.failed ?? []) {
    if (!log.nodes.some((e) => e.id === fl.id && e.outcome === 'failed')) lines.push(`  FAILED ${fl.id}: ${firstLine(fl.message)}`);
  }
  if (s) {
    const parts = [`${s.executed} ran`];
    if (s.cached) parts.push(`${s.cached} from cache`);
    parts.push(`${s.upToDate} up to date`);
    const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);
    if (rejected) parts.push(`${rejected} rejected`);
    if (s.failed.length) parts.push(`${s.failed.length} failed`);
    lines.push(`  ${parts.join(' · ')} · ${formatMs(f.ms)}${s.interrupted ? ' (interrupted)' : ''}`);
  }
  return lines;
}
