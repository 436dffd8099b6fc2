/** Locating the host tools the sandbox needs, with install hints, and their versions. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as NEEDS from '../setup/system-packages.js';
import { fileStamp } from '../store/facts.js';
import type { Facts } from '../task-api.js';

const execFileP = promisify(execFile);

const SEARCH_PATH = ['/usr/local/bin', '/usr/bin', '/bin'];

export interface Tool {
  /** What the user sees in errors. */
  name: string;
  /** The Debian package that provides it. */
  debianPackage: string;
}

// The packages are named once, in src/setup/system-packages.ts (what `asmgraph setup` installs).
export const BWRAP: Tool = { name: NEEDS.BWRAP.tool, debianPackage: NEEDS.BWRAP.debianPackage };
export const CC: Tool = { name: NEEDS.CC.tool, debianPackage: NEEDS.CC.debianPackage };
export const LIBFAKETIME: Tool = { name: NEEDS.LIBFAKETIME.tool, debianPackage: NEEDS.LIBFAKETIME.debianPackage };

export function missingToolError(tool: Tool, detail = ''): Error {
  return new Error(
    `sandbox: required tool '${tool.name}' not found${detail ? ` (${detail})` : ''}; ` +
      `install the Debian package '${tool.debianPackage}' (apt-get install ${tool.debianPackage})`,
  );
}

/** Absolute path of an executable, looked up in the usual system dirs (not the caller's PATH). */
export function findExecutable(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of SEARCH_PATH) {
    const p = path.join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export const findLibfaketime = NEEDS.findLibfaketime;

/** qemu-user binaries are named qemu-<arch>; their package is qemu-user. */
export function qemuTool(name: string): Tool {
  return { name, debianPackage: 'qemu-user' };
}

const versionCache = new Map<string, Promise<string>>();

/** First line of `exe --version`, or 'missing'. Memoized per process. */
export function toolVersion(exe: string, facts?: Facts): Promise<string> {
  let v = versionCache.get(exe);
  if (!v) {
    const found = findExecutable(exe);
    // Asked in an earlier build, and the executable is the same file since: not asked again.
    const stamp = found && facts ? fileStamp(found) : undefined;
    const remembered = stamp ? facts!.get(`tool-version ${found}`, stamp) : undefined;
    v = typeof remembered === 'string' ? Promise.resolve(remembered) : found
      ? execFileP(found, ['--version'], { timeout: 10_000 }).then(
          (r) => {
            const line = (r.stdout || r.stderr).split('\n')[0]!.trim();
            if (stamp) facts!.set(`tool-version ${found}`, stamp, line);
            return line;
          },
          () => 'unknown',
        )
      : Promise.resolve('missing');
    versionCache.set(exe, v);
  }
  return v;
}

/** Content hash of a file (for libraries without a --version). */
export function fileHash(p: string | undefined): string {
  if (!p) return 'missing';
  try {
    return createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16);
  } catch {
    return 'missing';
  }
}
