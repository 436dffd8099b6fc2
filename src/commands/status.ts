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

export async function computeStatus(p: Pipeline, targets: string[]): Promise<TargetStatus[]> {
  checkTargets(p, targets);
  const store = storeOf(p);
  await store.open({ clearTemp: false });
  const rows = new Map<string, TargetStatus>();
  const row = (t: string) => {
    let r = rows.get(t);
    if (!r) rows.set(t, (r = { target: t, fresh: 0, stale: 0, rejected: 0 }));
    return r;
  };
  const onEvent = (e: EngineEvent) => {
    if (e.type !== 'node-done' || e.id.includes('@')) return;
    const r = row(e.target);
    if (e.outcome === 'up-to-date') {
      if (e.status === 'rejected') r.rejected++;
      else r.fresh++;
    } else if (e.outcome === 'propagated') r.rejected++;
    else r.stale++;
  };
  await new Build(p, store, { targets, dryRun: true, onEvent }).run();
  return [...rows.values()];
}

export function formatStatus(rows: TargetStatus[]): string {
  const w = Math.max(6, ...rows.map((r) => r.target.length));
  const lines = [`${'target'.padEnd(w)}  fresh  stale  rejected`];
  for (const r of rows) lines.push(`${r.target.padEnd(w)}  ${String(r.fresh).padStart(5)}  ${String(r.stale).padStart(5)}  ${String(r.rejected).padStart(8)}`);
  return lines.join('\n');
}
