/** What the LLM modules share: an abortable sleep, and the project's hashing and error text under one import. */
import { setTimeout as delay } from 'node:timers/promises';
import type { Json } from '../task-api.js';

export type { Json };

export { canonicalJson, hashJson, sha256 } from '../hash.js';
export { errorMessage } from '../errors.js';

/** Sleeps `ms`, rejecting with the signal's reason when it aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  await delay(ms, undefined, signal ? { signal } : undefined).catch((err: unknown) => {
    if (signal?.aborted) throw signal.reason ?? err;
    throw err;
  });
}
