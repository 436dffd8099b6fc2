/** `asmgraph status`: fresh / stale / rejected counts per target, without building anything. */
import { Build } from '../engine/build.js';
import type { EngineEvent } from '../engine/events.js';
import type { Pipeline } from '../pipeline/model.js';
import { checkTargets, storeOf } from '../project.js';

export interface TargetStatus {
  target: string;
  fresh: number;
  stale: number;
  rejected: number;
}

/** A stale or rejected node, with why (`status -v`, like `dvc status`). */
export interface NodeStatus {
  id: string;
  state: 'stale' | 'rejected';
  /** Stale: what changed (or "would be restored from the cache"); rejected: the reason and message. */
  why: string[];
}

export interface StatusReport {
  rows: TargetStatus[];
  nodes: NodeStatus[];
}

export async function computeStatus(p: Pipeline, targets: string[]): Promise<TargetStatus[]> {
  return (await computeStatusReport(p, targets)).rows;
}

export async function computeStatusReport(p: Pipeline, targets: string[]): Promise<StatusReport> {
  checkTargets(p, targets);
  const store = storeOf(p);
  await store.open({ clearTemp: false });
  const rows = new Map<string, TargetStatus>();
  const nodes: NodeStatus[] = [];
  const row = (t: string) => {
    let r = rows.get(t);
    if (!r) rows.set(t, (r = { target: t, fresh: 0, stale: 0, rejected: 0 }));
    return r;
  };
  const onEvent = (e: EngineEvent) => {
    if (e.type !== 'node-done' || e.id.includes('@')) return;
    const r = row(e.target);
    if (e.outcome === 'up-to-date' || e.outcome === 'propagated') {
      if (e.status !== 'rejected') {
        r.fresh++;
        return;
      }
      r.rejected++;
      const message = headline(e.message);
      nodes.push({ id: e.id, state: 'rejected', why: [`${e.reason ?? 'rejected'}${message ? `: ${message}` : ''}`] });
      return;
    }
    r.stale++;
    const why = e.why?.length ? [...e.why] : [];
    if (e.outcome === 'would-restore') why.push('its result is in the cache: a build restores it without running');
    nodes.push({ id: e.id, state: 'stale', why });
  };
  await new Build(p, store, { targets, dryRun: true, onEvent }).run();
  nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { rows: [...rows.values()], nodes };
}

export function formatStatus(rows: TargetStatus[]): string {
  const w = Math.max(6, ...rows.map((r) => r.target.length));
  const lines = [`${'target'.padEnd(w)}  fresh  stale  rejected`];
  for (const r of rows) lines.push(`${r.target.padEnd(w)}  ${String(r.fresh).padStart(5)}  ${String(r.stale).padStart(5)}  ${String(r.rejected).padStart(8)}`);
  return lines.join('\n');
}

/** The table, then each stale and rejected node with its reasons. */
export function formatStatusVerbose(report: StatusReport): string {
  const lines = [formatStatus(report.rows)];
  for (const state of ['stale', 'rejected'] as const) {
    const list = report.nodes.filter((n) => n.state === state);
    if (!list.length) continue;
    lines.push('', `${state}:`);
    for (const n of list) {
      lines.push(`  ${n.id}`);
      for (const w of n.why) lines.push(`      ${w}`);
    }
  }
  return lines.join('\n');
}

/** The line of a tool's message that says what is wrong (`…: error: …`), else its first line. */
export function headline(message: string | undefined): string | undefined {
  const lines = (message ?? '').split('\n').filter((l) => l.trim());
  return lines.find((l) => /\berror\b/.test(l)) ?? lines[0];
}
