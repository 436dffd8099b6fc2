/**
 * Sharded builds: `--shard k/N` runs only the per-item work of the items that hash to shard k,
 * so N machines sharing a remote cache split a build between them. The split is by the item's
 * base name (a program's whole chain, compile → validate, stays on one shard), hashed, so it is
 * the same on every machine and in every run. Aggregates (dataset, finetune, eval) and model
 * calls are left to an unsharded gather run, which finds the per-item results in the cache.
 *
 * The index may also come from the job engine's environment: Kubernetes Indexed Jobs
 * (`JOB_COMPLETION_INDEX`, 0-based; the count is given: `--shard auto/N`) and Slurm job arrays
 * (`SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_COUNT`, with `SLURM_ARRAY_TASK_MIN`/`_STEP`):
 * `--shard auto`. A CI matrix passes `--shard k/N` itself.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../pipeline/diagnostics.js';
import type { TargetDef } from '../pipeline/model.js';

export interface Shard {
  /** 1-based, as `--shard 1/4` (the convention of vitest, jest and playwright). */
  index: number;
  count: number;
  /** Where the index came from, for messages. */
  source: string;
}

function whole(s: string | undefined): number | undefined {
  return s !== undefined && /^\d+$/.test(s.trim()) ? Number(s.trim()) : undefined;
}

export function parseShard(spec: string, env: NodeJS.ProcessEnv = process.env): Shard {
  const bad = (why: string) => new UsageError(`--shard ${spec}: ${why}`);
  const m = /^\s*(auto|\d+)\s*(?:\/\s*(\d+)\s*)?$/.exec(spec);
  if (!m) throw bad('expected k/N (e.g. 1/4), auto (Slurm job arrays) or auto/N (Kubernetes Indexed Jobs)');
  const given = m[2] === undefined ? undefined : Number(m[2]);
  if (given !== undefined && given < 1) throw bad('the number of shards must be at least 1');
  if (m[1] !== 'auto') {
    if (given === undefined) throw bad('give the number of shards too, e.g. 1/4');
    const index = Number(m[1]);
    if (index < 1 || index > given) throw bad(`the shard must be between 1 and ${given}`);
    return { index, count: given, source: 'flag' };
  }
  const k8s = whole(env.JOB_COMPLETION_INDEX);
  if (k8s !== undefined) {
    if (given === undefined) throw bad('JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but not the number of shards: use --shard auto/N with N = the Job\'s completions');
    if (k8s >= given) throw bad(`JOB_COMPLETION_INDEX=${k8s} is not below the number of shards ${given}`);
    return { index: k8s + 1, count: given, source: 'JOB_COMPLETION_INDEX' };
  }
  const id = whole(env.SLURM_ARRAY_TASK_ID);
  const count = whole(env.SLURM_ARRAY_TASK_COUNT);
  if (id !== undefined && count !== undefined) {
    const min = whole(env.SLURM_ARRAY_TASK_MIN) ?? 0;
    const step = whole(env.SLURM_ARRAY_TASK_STEP) || 1;
    const index = (id - min) / step;
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      throw bad(`SLURM_ARRAY_TASK_ID=${id} does not fit the array (min ${min}, step ${step}, count ${count})`);
    }
    if (given !== undefined && given !== count) throw bad(`SLURM_ARRAY_TASK_COUNT=${count} disagrees with ${given}`);
    return { index: index + 1, count, source: 'SLURM_ARRAY_TASK_ID' };
  }
  throw bad('no shard index in the environment (JOB_COMPLETION_INDEX, or SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT)');
}

/** The shard (1-based) an item belongs to: stable across machines, runs and Node versions. */
export function shardOf(base: string, count: number): number {
  const h = createHash('sha256').update(base).digest();
  return (h.readUInt32BE(0) % count) + 1;
}

/** Whether this shard runs the node of `item` in target `def` (never an aggregate or a model call). */
export function shardOwns(shard: Shard, def: TargetDef, base: string): boolean {
  if (def.mode !== 'map' || def.kind.pool === 'llm') return false;
  return shardOf(base, shard.count) === shard.index;
}
