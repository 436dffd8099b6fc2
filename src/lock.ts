/**
 * One build at a time per project: a lock folder in cache/ (proper-lockfile keeps it fresh
 * while we hold it). A second runner waits with a message naming the holder; a lock left by a
 * process that no longer exists (kill -9) is taken over at once.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import lockfile from 'proper-lockfile';

export interface LockOwner {
  pid: number;
  command: string;
  since: string;
}

export async function acquireLock(
  cacheDir: string,
  onWait: (holder: string) => void,
  signal?: AbortSignal,
): Promise<() => Promise<void>> {
  await fsp.mkdir(cacheDir, { recursive: true });
  const lockPath = path.join(cacheDir, 'lock');
  // The owner file lives inside the lock folder, so it can never outlive the lock it describes.
  const ownerFile = path.join(lockPath, 'owner.json');
  let announced = false;
  for (;;) {
    try {
      const release = await lockfile.lock(cacheDir, { lockfilePath: lockPath, realpath: false, stale: 20_000, update: 5_000 });
      const owner: LockOwner = { pid: process.pid, command: process.argv.slice(2).join(' ') || 'build', since: new Date().toISOString() };
      await fsp.writeFile(ownerFile, JSON.stringify(owner));
      return async () => {
        await fsp.rm(ownerFile, { force: true });
        await release().catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    }
    const owner = await readOwner(ownerFile);
    if (owner && !alive(owner.pid)) {
      // The holder died without releasing (kill -9): take the lock over.
      await fsp.rm(lockPath, { recursive: true, force: true });
      continue;
    }
    if (!announced) {
      onWait(owner ? `pid ${owner.pid} (asmgraph ${owner.command}, since ${owner.since})` : 'another asmgraph process');
      announced = true;
    }
    if (signal?.aborted) throw new Error('interrupted while waiting for the project lock');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
