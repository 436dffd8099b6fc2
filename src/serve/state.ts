/**
 * What the page shows, folded from the engine's event stream (the same events `--json` prints):
 * one row per program with its verdict per target, and the dataset's and eval's reports read
 * from the build's outputs when their nodes finish. The page holds no state of its own: it gets a
 * snapshot of this, then every change to it over server-sent events.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { EngineEvent } from '../engine/events.js';
import { fileStemOf } from '../engine/items.js';
import type { Pipeline, TargetDef } from '../pipeline/model.js';

type NodeDone = Extract<EngineEvent, { type: 'node-done' }>;

/** One target's verdict for one program. */
export interface Cell {
  /** ok, rejected (with reason), propagated (an input was rejected), failed, or running. */
  s: 'ok' | 'rejected' | 'propagated' | 'failed' | 'running';
  /** Rejection reason (verdict), e.g. compile-error. */
  r?: string;
  /** The tool's message, first line that names an error. */
  m?: string;
  /** Token count of the target's output, when the kind counts them. */
  tok?: number;
  /** Which assembly the target kept (clean / raw), or the variant the dataset took. */
  v?: string;
}

export interface Row {
  key: string;
  cells: Record<string, Cell>;
  /** From the dataset report: tokens of the whole example, split, why excluded. */
  tokens?: number;
  split?: 'train' | 'valid';
  excluded?: string;
  note?: string;
  variant?: string;
  /** ms since the epoch when any of it last changed. */
  changed: number;
}

export interface DatasetInfo {
  target: string;
  report: Record<string, unknown>;
}

export interface Snapshot {
  project: string;
  targets: string[];
  /** The target whose verdict is the program's verdict (what the dataset reads). */
  verdictTarget: string | undefined;
  dataset: DatasetInfo | undefined;
  eval: Record<string, unknown> | undefined;
  rows: Row[];
  cycle: CycleInfo | undefined;
}

export interface CycleInfo {
  n: number;
  running: boolean;
  changed: string[];
  ms?: number;
  ok?: boolean;
  error?: string;
  at: number;
}

/** What the server pushes: rows that changed, the dataset/eval when they changed, the cycle. */
export interface Delta {
  rows?: Row[];
  removed?: string[];
  dataset?: DatasetInfo;
  eval?: Record<string, unknown>;
  cycle?: CycleInfo;
  targets?: string[];
  verdictTarget?: string;
}

function firstLine(s: string | undefined): string | undefined {
  if (!s) return undefined;
  const all = s.split('\n').filter((x) => x.trim());
  const l = all.find((x) => /\berror\b/i.test(x)) ?? all[0] ?? '';
  return l.length > 200 ? `${l.slice(0, 197)}…` : l.trim();
}

const sameCell = (a: Cell | undefined, b: Cell): boolean =>
  !!a && a.s === b.s && a.r === b.r && a.m === b.m && a.tok === b.tok && a.v === b.v;

export class ProjectState {
  pipeline!: Pipeline;
  private readonly rows = new Map<string, Row>();
  /** Table columns: map targets, or one per variant of a matrix target. */
  private targets: string[] = [];
  private mapTargets = new Set<string>();
  private verdictTarget: string | undefined;
  private datasetTarget: string | undefined;
  private evalTarget: string | undefined;
  private dataset: DatasetInfo | undefined;
  private evalReport: Record<string, unknown> | undefined;
  private cycle: CycleInfo | undefined;
  /** Bases seen in the build now running: rows not seen by a complete build are gone. */
  private seen = new Set<string>();
  private pending: Delta = {};
  private dirtyRows = new Set<string>();

  constructor(
    /** Called when there is something to push (at most once per flush). */
    private readonly onChange: () => void,
    private readonly requested: string[] = [],
  ) {}

  setPipeline(p: Pipeline): void {
    this.pipeline = p;
    const wanted = this.requested.length ? this.requested : p.defaultTargets;
    const order: string[] = [];
    const seen = new Set<string>();
    const visit = (n: string) => {
      if (seen.has(n) || !p.targets.has(n)) return;
      seen.add(n);
      const d = p.targets.get(n)!;
      for (const x of [...d.from, ...Object.values(d.with)]) visit(x);
      order.push(n);
    };
    for (const w of wanted) visit(w);
    // Columns in pipeline.yaml's order.
    const pos = new Map([...p.targets.keys()].map((t, i) => [t, i]));
    // A matrix target has one column per variant (`validated[opt=O2]`), added as they appear.
    this.targets = order.filter((t) => p.targets.get(t)!.mode === 'map').sort((a, b) => pos.get(a)! - pos.get(b)!);
    this.mapTargets = new Set(this.targets);
    this.targets = this.targets.filter((t) => !p.targets.get(t)!.matrix);
    const ds = order.map((t) => p.targets.get(t)!).find((d) => d.kindName === 'dataset');
    this.datasetTarget = ds?.name;
    this.verdictTarget = ds ? ds.from[0] : this.targets[this.targets.length - 1];
    this.evalTarget = order.map((t) => p.targets.get(t)!).find((d) => d.kindName === 'eval')?.name;
    // Reports already on disk from an earlier build show at once.
    if (ds) this.readDataset(ds);
    if (this.evalTarget) this.readEval(p.targets.get(this.evalTarget)!);
    this.pending.targets = this.targets;
    this.pending.verdictTarget = this.verdictTarget;
    this.onChange();
  }

  snapshot(): Snapshot {
    return {
      project: this.pipeline?.root ?? '',
      targets: this.targets,
      verdictTarget: this.verdictTarget,
      dataset: this.dataset,
      eval: this.evalReport,
      rows: [...this.rows.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
      cycle: this.cycle,
    };
  }

  /** The changes since the last call (undefined when none). */
  takeDelta(): Delta | undefined {
    const d = this.pending;
    if (this.dirtyRows.size) d.rows = [...this.dirtyRows].map((k) => this.rows.get(k)!).filter(Boolean);
    this.dirtyRows.clear();
    this.pending = {};
    return Object.keys(d).length ? d : undefined;
  }

  row(key: string): Row | undefined {
    return this.rows.get(key);
  }

  /** Folds one event (engine or watch) in. */
  apply(e: { type: string } & Record<string, unknown>): void {
    switch (e.type) {
      case 'cycle-start':
        this.seen = new Set();
        this.cycle = { n: e.cycle as number, running: true, changed: e.changed as string[], at: Date.now() };
        this.pending.cycle = this.cycle;
        break;
      case 'cycle-done': {
        this.cycle = { ...this.cycle!, running: false, ms: e.ms as number, ok: e.ok as boolean, error: e.error as string | undefined, at: Date.now() };
        this.pending.cycle = this.cycle;
        break;
      }
      case 'node-start': {
        const n = e as unknown as Extract<EngineEvent, { type: 'node-start' }>;
        if (n.item === undefined || !this.mapTargets.has(n.target)) break;
        const base = this.baseOf(n.target, n.item);
        const r = this.ensure(base);
        const col = this.column(n.target, n.item, base);
        this.addColumn(n.target, col);
        r.cells[col] = { ...r.cells[col], s: 'running' };
        this.touch(r);
        break;
      }
      case 'node-done':
        this.nodeDone(e as unknown as NodeDone);
        break;
      case 'build-done': {
        const s = (e as unknown as Extract<EngineEvent, { type: 'build-done' }>).summary;
        if (s.interrupted || s.failed.length) break;
        const removed: string[] = [];
        for (const k of this.rows.keys()) if (!this.seen.has(k)) removed.push(k);
        for (const k of removed) {
          this.rows.delete(k);
          this.dirtyRows.delete(k);
        }
        if (removed.length) this.pending.removed = [...(this.pending.removed ?? []), ...removed];
        break;
      }
      default:
        return;
    }
    this.onChange();
  }

  private baseOf(target: string, item: string): string {
    // Item keys are `base` or `base[k=v,…]` (matrix variants).
    const i = item.indexOf('[');
    return i > 0 && item.endsWith(']') ? item.slice(0, i) : item;
  }

  private column(target: string, item: string, base: string): string {
    return item === base ? target : `${target}${item.slice(base.length)}`;
  }

  private addColumn(target: string, col: string): void {
    if (this.targets.includes(col)) return;
    const pos = new Map([...this.pipeline.targets.keys()].map((t, i) => [t, i]));
    const targetOf = (c: string) => c.replace(/\[.*$/, '');
    // Variant columns replace the target's plain one (its items all carry variables).
    const cols = [...this.targets, col].filter((c) => col === target || c !== target);
    cols.sort((a, b) => pos.get(targetOf(a))! - pos.get(targetOf(b))! || (a < b ? -1 : a > b ? 1 : 0));
    this.targets = cols;
    this.pending.targets = cols;
  }

  private ensure(base: string): Row {
    let r = this.rows.get(base);
    if (!r) this.rows.set(base, (r = { key: base, cells: {}, changed: Date.now() }));
    return r;
  }

  private touch(r: Row): void {
    r.changed = Date.now();
    this.dirtyRows.add(r.key);
  }

  private nodeDone(e: NodeDone): void {
    if (e.id.includes('@')) return;
    if (e.item === undefined) {
      if (e.outcome === 'would-run' || e.status !== 'ok') return;
      const def = this.pipeline.targets.get(e.target);
      if (def && e.target === this.datasetTarget) this.readDataset(def);
      if (def && e.target === this.evalTarget) this.readEval(def);
      return;
    }
    if (!this.mapTargets.has(e.target)) return;
    const base = this.baseOf(e.target, e.item);
    this.seen.add(base);
    const r = this.ensure(base);
    const col = this.column(e.target, e.item, base);
    this.addColumn(e.target, col);
    const cell: Cell = { s: e.outcome === 'failed' ? 'failed' : e.outcome === 'propagated' ? 'propagated' : e.status === 'failed' ? 'failed' : e.status };
    if (e.reason) cell.r = e.reason;
    if (cell.s === 'rejected' || cell.s === 'failed') cell.m = firstLine(e.message) ?? this.rejectedMessage(e.target, e.item, base);
    if (typeof e.meta?.tokens === 'number') cell.tok = e.meta.tokens;
    if (typeof e.meta?.variant === 'string') cell.v = e.meta.variant;
    const before = r.cells[col];
    if (sameCell(before, cell)) return;
    r.cells[col] = cell;
    this.touch(r);
  }

  /** Up-to-date nodes carry no message in their event: it is in the materialized `.rejected.txt`. */
  private rejectedMessage(target: string, item: string, base: string): string | undefined {
    const def = this.pipeline.targets.get(target);
    if (!def) return undefined;
    const vars = parseVars(item.slice(base.length));
    try {
      const text = readFileSync(path.join(this.pipeline.root, def.outDir, `${fileStemOf(base, vars)}.rejected.txt`), 'utf8');
      return firstLine(text.split('\n').slice(1).join('\n'));
    } catch {
      return undefined;
    }
  }

  private readDataset(def: TargetDef): void {
    const spec = def.kind.outputs(def.params).find((o) => o.name === 'report');
    if (!spec?.file) return;
    let report: Record<string, unknown>;
    try {
      report = JSON.parse(readFileSync(path.join(this.pipeline.root, def.outDir, spec.file), 'utf8')) as Record<string, unknown>;
    } catch {
      return;
    }
    this.dataset = { target: def.name, report };
    this.pending.dataset = this.dataset;
    // Per-program facts from the report: tokens, split, why excluded, the variant taken.
    const facts = new Map<string, Partial<Row>>();
    for (const ex of (report.perExample as { key: string; tokens: number; split: 'train' | 'valid'; variant?: string | null }[] | undefined) ?? []) {
      facts.set(this.baseOf('', ex.key), { tokens: ex.tokens, split: ex.split, variant: ex.variant ?? undefined });
    }
    const tooLong = (report.tooLongTokens ?? {}) as Record<string, number>;
    const curated = (report.curated ?? {}) as Record<string, string>;
    for (const [reason, v] of Object.entries((report.excluded ?? {}) as Record<string, { items: string[] }>)) {
      for (const k of v.items) {
        const f: Partial<Row> = { excluded: reason };
        if (tooLong[k] !== undefined) f.tokens = tooLong[k];
        if (curated[k] !== undefined) f.note = curated[k];
        facts.set(this.baseOf('', k), f);
      }
    }
    for (const r of this.rows.values()) this.setFacts(r, facts.get(r.key) ?? {});
  }

  private setFacts(r: Row, f: Partial<Row>): void {
    if (r.tokens === f.tokens && r.split === f.split && r.excluded === f.excluded && r.note === f.note && r.variant === f.variant) return;
    r.tokens = f.tokens;
    r.split = f.split;
    r.excluded = f.excluded;
    r.note = f.note;
    r.variant = f.variant;
    this.touch(r);
  }

  private readEval(def: TargetDef): void {
    const spec = def.kind.outputs(def.params).find((o) => o.name === 'json');
    if (!spec?.file) return;
    try {
      this.evalReport = JSON.parse(readFileSync(path.join(this.pipeline.root, def.outDir, spec.file), 'utf8')) as Record<string, unknown>;
      this.pending.eval = this.evalReport;
    } catch {
      /* not built yet */
    }
  }
}

function parseVars(suffix: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!suffix.startsWith('[')) return out;
  for (const kv of suffix.slice(1, -1).split(',')) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}
