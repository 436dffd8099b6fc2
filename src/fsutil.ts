/** Small filesystem helpers: every write is temp file + rename. */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Where a writer's temp files live before they are renamed into place: the store's `tmp/` once
 * it is open (a killed run's leftovers are cleared there, never left in `build/`), else beside
 * the file. Owned by the store and handed to its parts; `dir` is set when the store opens.
 */
export interface TempPlace {
  dir?: string;
}

export interface WriteOptions {
  mode?: number;
  /** Stage the temp file here (same filesystem as the file); default: beside the file. */
  tmpDir?: string;
}

export function tempName(dir: string, tmpDir?: string): string {
  return path.join(tmpDir ?? dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** Folders this process has made (or found): writes into them skip the mkdir. */
const madeDirs = new Set<string>();

async function ensureDir(dir: string): Promise<void> {
  if (madeDirs.has(dir)) return;
  await fsp.mkdir(dir, { recursive: true });
  madeDirs.add(dir);
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * Writes `data` to `file` atomically: a reader sees the old content or the new, never a part.
 * Folders are made once per process; one removed since (a pruned output folder) is made again.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: WriteOptions = {}): Promise<void> {
  const dir = path.dirname(file);
  let tmp = tempName(dir, options.tmpDir);
  const opts = options.mode === undefined ? undefined : { mode: options.mode };
  await ensureDir(path.dirname(tmp));
  try {
    await fsp.writeFile(tmp, data, opts);
  } catch (err) {
    if (!isMissing(err)) throw err;
    madeDirs.delete(path.dirname(tmp));
    await ensureDir(path.dirname(tmp));
    await fsp.writeFile(tmp, data, opts);
  }
  try {
    await ensureDir(dir);
    await fsp.rename(tmp, file);
  } catch (err) {
    if (isMissing(err) && existsSync(tmp)) {
      madeDirs.delete(dir);
      await ensureDir(dir);
      await fsp.rename(tmp, file);
      return;
    }
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    // Temp root on another filesystem: stage beside the target instead.
    await fsp.rm(tmp, { force: true });
    tmp = path.join(dir, path.basename(tmp));
    await fsp.writeFile(tmp, data, opts);
    await fsp.rename(tmp, file);
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Removes a file and then any parent directories (up to `stop`) it leaves empty. */
export async function removeAndPrune(file: string, stop: string): Promise<void> {
  await fsp.rm(file, { force: true });
  let dir = path.dirname(file);
  while (dir.startsWith(stop + path.sep) && dir !== stop) {
    try {
      await fsp.rmdir(dir);
    } catch {
      return;
    }
    dir = path.dirname(dir);
  }
}

/** True when `child` is `parent` or inside it (both absolute, normalised). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
