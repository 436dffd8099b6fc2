/**
 * The rebuilder: given a node's key and what the last build left, decides whether the node is up
 * to date, can be restored from the action cache, or must run — and why. It reads through the
 * callbacks it is given and changes nothing; the runners act on its answer.
 */
import type { ActionRecord, NodeState } from '../store/index.js';

export type Decision =
  | { action: 'up-to-date'; prev: NodeState }
  | { action: 'cached'; rec: ActionRecord; why?: string[] }
  | { action: 'run'; why?: string[] };

export interface DecideJob {
  key: string;
  /** This node in the last build's state. */
  prev?: NodeState;
  /** `--force`: neither the work tree nor the cache counts. */
  force: boolean;
}

export interface DecideIO {
  /** What is wrong with the outputs the last build put in the work tree, or undefined if they are intact. */
  outputsDamage(prev: NodeState): string | undefined;
  /** The action cache's record for a key. */
  cached(key: string): Promise<ActionRecord | undefined>;
  /** Why the node is stale, in the user's words (only asked for when someone will read it). */
  explain?(prev: NodeState | undefined): Promise<string[]>;
}

export async function decide(job: DecideJob, io: DecideIO): Promise<Decision> {
  const { key, prev, force } = job;
  if (!force && prev && prev.key === key && !io.outputsDamage(prev)) return { action: 'up-to-date', prev };
  const why = force ? ['--force'] : io.explain ? await io.explain(prev) : undefined;
  if (!force) {
    const rec = await io.cached(key);
    if (rec) return { action: 'cached', rec, why };
  }
  return { action: 'run', why };
}
