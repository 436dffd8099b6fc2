/** Small helpers shared by the LLM modules: canonical JSON, hashing, abortable sleep. */
import { setTimeout as delay } from 'node:timers/promises';
import type { Json } from '../task-api.js';

export type { Json };

export { canonicalJson, sha256 } from '../hash.js';
import { canonicalJson, sha256 } from '../hash.js';

export function hashJson(value: unknown): string {
  return sha256(canonicalJson(value));
}

/** Sleeps `ms`, rejecting with the signal's reason when it aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  await delay(ms, undefined, signal ? { signal } : undefined).catch((err: unknown) => {
    if (signal?.aborted) throw signal.reason ?? err;
    throw err;
  });
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
