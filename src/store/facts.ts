/**
 * Facts about the machine that are slow to learn and change only when some file changes: a
 * compiler's `--version`, a parsed toolchain definition. Remembered across builds in
 * `cache/state/facts.json`, each under a stamp of the files it depends on (see `fileStamp`), so a
 * no-op build spawns no `g++ --version` and loads no YAML parser; a stamp that differs (a compiler
 * upgraded, a definition edited, PATH pointing elsewhere) learns the fact afresh. ccache checks
 * its compiler the same way by default (`compiler_check = mtime`).
 */
import { accessSync, constants, readFileSync, realpathSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, type TempPlace } from '../fsutil.js';
import type { Facts, Json } from '../task-api.js';

interface Entry {
  stamp: string;
  value: Json;
}

export class FactCache implements Facts {
  private entries?: Map<string, Entry>;
  private changed = false;

  constructor(private readonly file: string, private readonly temp: TempPlace = {}) {}

  get(key: string, stamp: string): Json | undefined {
    const e = this.load().get(key);
    return e && e.stamp === stamp ? e.value : undefined;
  }

  set(key: string, stamp: string, value: Json): void {
    const m = this.load();
    const e = m.get(key);
    if (e && e.stamp === stamp && JSON.stringify(e.value) === JSON.stringify(value)) return;
    m.set(key, { stamp, value });
    this.changed = true;
  }

  async save(): Promise<void> {
    if (!this.changed || !this.entries) return;
    await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.entries)), { tmpDir: this.temp.dir });
    this.changed = false;
  }

  private load(): Map<string, Entry> {
    if (this.entries) return this.entries;
    this.entries = new Map();
    try {
      const raw = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, Entry>;
      for (const [k, e] of Object.entries(raw)) if (e && typeof e.stamp === 'string' && 'value' in e) this.entries.set(k, e);
    } catch {
      /* none yet, or damaged: every fact is learned afresh */
    }
    return this.entries;
  }
}

/**
 * The stamp of a file: its real path, size, mtime, ctime and inode. Undefined when the file is
 * missing, or modified in the last two seconds (it could be rewritten within the clock's
 * resolution with the same size, so nothing is remembered under it; the file hasher does the same).
 */
export function fileStamp(file: string, now = Date.now()): string | undefined {
  try {
    const real = realpathSync(file);
    const st = statSync(real);
    if (now - st.mtimeMs < 2000) return undefined;
    return `${file}>${real}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** The stamp of the executable a command name runs, found on PATH as a spawn would find it. */
export function commandStamp(command: string, envPath = process.env.PATH ?? ''): string | undefined {
  if (command.includes('/')) return fileStamp(path.resolve(command));
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, command);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return fileStamp(p);
    } catch {
      /* not in this folder */
    }
  }
  return undefined;
}
