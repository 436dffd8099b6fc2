/**
 * One build at a time per project: `cache/lock/`, created atomically with mkdir, holding
 * owner.json (pid and that process's start time). A second runner waits with a message naming
 * the holder. A lock whose owner is gone (kill -9) is taken over at once: the owner is alive
 * only if a process with that pid exists and started when the owner file says, so a recycled
 * pid does not keep a dead lock.
 */
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface LockOwner {
  pid: number;
  start: string;
  command: string;
  since: string;
}

/** A lock folder without owner.json older than this was left by a process killed right after mkdir. */
const ORPHAN_MS = 5000;

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime), counted after the ")" that ends the command name.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(owner: LockOwner): boolean {
  return startTimeOf(owner.pid) === owner.start;
}

export async function acquireLock(
  cacheDir: string,
  onWait: (holder: string) => void,
  signal?: AbortSignal,
): Promise<() => Promise<void>> {
  await fsp.mkdir(cacheDir, { recursive: true });
  const lockDir = path.join(cacheDir, 'lock');
  const ownerFile = path.join(lockDir, 'owner.json');
  let announced = false;
  for (;;) {
    try {
      await fsp.mkdir(lockDir);
      const owner: LockOwner = {
        pid: process.pid,
        start: startTimeOf(process.pid) ?? '',
        command: process.argv.slice(2).join(' ') || 'build',
        since: new Date().toISOString(),
      };
      const tmp = `${ownerFile}.${process.pid}.tmp`;
      await fsp.writeFile(tmp, JSON.stringify(owner));
      await fsp.rename(tmp, ownerFile);
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        await fsp.rm(lockDir, { recursive: true, force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: LockOwner | undefined;
    try {
      owner = JSON.parse(await fsp.readFile(ownerFile, 'utf8')) as LockOwner;
    } catch {
      owner = undefined;
    }
    let stale = false;
    if (owner) stale = !alive(owner);
    else {
      const st = await fsp.stat(lockDir).catch(() => undefined);
      stale = !!st && Date.now() - st.mtimeMs > ORPHAN_MS;
    }
    if (stale) {
      // Take over: rename first so two waiters cannot both remove a fresh lock.
      const grave = `${lockDir}.stale-${process.pid}`;
      try {
        await fsp.rename(lockDir, grave);
        await fsp.rm(grave, { recursive: true, force: true });
      } catch {
        /* someone else took it over first */
      }
      continue;
    }
    if (!announced) {
      onWait(owner ? `pid ${owner.pid} (asmgraph ${owner.command}, since ${owner.since})` : 'another asmgraph process');
      announced = true;
    }
    if (signal?.aborted) throw new Error('interrupted while waiting for the project lock');
    await new Promise((r) => setTimeout(r, 50));
  }
}
