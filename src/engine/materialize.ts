/**
 * Copies outputs from the store into the work tree (temp file + rename) and checks
 * whether what is there is still what was put there (size, mtime, inode).
 */
import { promises as fsp, statSync } from 'node:fs';
import * as path from 'node:path';
import { removeAndPrune, writeFileAtomic } from '../fsutil.js';
import type { OutStat } from '../store/index.js';

export async function writeOutput(root: string, rel: string, data: Uint8Array | string, tmpDir?: string): Promise<OutStat> {
  const abs = path.join(root, rel);
  await writeFileAtomic(abs, data, { tmpDir });
  const st = await fsp.stat(abs);
  return [st.size, st.mtimeMs, st.ino];
}

/** True when every recorded output is still in place, unmodified. */
export function outputsIntact(root: string, out: Record<string, OutStat>): string | undefined {
  for (const [rel, [size, mtime, ino]] of Object.entries(out)) {
    // Synchronous: a no-op build checks every output, and async stats queue on libuv's pool.
    const st = statSync(path.join(root, rel), { throwIfNoEntry: false });
    if (!st) return `${rel} is missing`;
    if (st.size !== size || st.mtimeMs !== mtime || st.ino !== ino) return `${rel} was modified`;
  }
  return undefined;
}

/** Removes outputs recorded before that the new result no longer has. */
export async function removeStale(root: string, before: Record<string, OutStat> | undefined, after: Record<string, OutStat>, buildDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const rel of Object.keys(before ?? {})) {
    if (rel in after) continue;
    await removeAndPrune(path.join(root, rel), path.join(root, buildDir));
    removed.push(rel);
  }
  return removed;
}
