/** Locating the host tools the sandbox needs, with install hints, and their versions. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

const SEARCH_PATH = ['/usr/local/bin', '/usr/bin', '/bin'];

export interface Tool {
  /** What the user sees in errors. */
  name: string;
  /** The Debian package that provides it. */
  debianPackage: string;
}

export const BWRAP: Tool = { name: 'bwrap', debianPackage: 'bubblewrap' };
export const CC: Tool = { name: 'gcc', debianPackage: 'gcc' };
export const LIBFAKETIME: Tool = { name: 'libfaketime.so.1', debianPackage: 'libfaketime' };

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

function multiarchTriplet(): string {
  switch (process.arch) {
    case 'x64':
      return 'x86_64-linux-gnu';
    case 'arm64':
      return 'aarch64-linux-gnu';
    case 'riscv64':
      return 'riscv64-linux-gnu';
    default:
      return `${process.arch}-linux-gnu`;
  }
}

export function findLibfaketime(): string | undefined {
  const candidates = [
    `/usr/lib/${multiarchTriplet()}/faketime/libfaketime.so.1`,
    '/usr/lib/faketime/libfaketime.so.1',
    '/usr/local/lib/faketime/libfaketime.so.1',
  ];
  return candidates.find((p) => fs.existsSync(p));
}

/** qemu-user binaries are named qemu-<arch>; their package is qemu-user. */
export function qemuTool(name: string): Tool {
  return { name, debianPackage: 'qemu-user' };
}

const versionCache = new Map<string, Promise<string>>();

/** First line of `exe --version`, or 'missing'. Memoized per process. */
export function toolVersion(exe: string): Promise<string> {
  let v = versionCache.get(exe);
  if (!v) {
    const found = findExecutable(exe);
    v = found
      ? execFileP(found, ['--version'], { timeout: 10_000 }).then(
          (r) => (r.stdout || r.stderr).split('\n')[0]!.trim(),
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
