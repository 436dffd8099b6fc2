/**
 * The one list of system (Debian) packages the project needs, and how to tell whether each is
 * present. `asmgraph setup` installs what is missing, `asmgraph doctor` reports; the sandbox's own
 * "not found" errors name the same packages (src/sandbox/tools.ts takes them from here).
 *
 * Two profiles: `build` is what the default pipeline needs (`npm run build-graph`); `test` adds
 * what the test suite needs (the cross toolchains and their runner, the bench's peers, the
 * servers and browser the tests start). Compilers and runners come from `toolchain/*.yaml`
 * (`debianPackage`, `runPackage`), so a new toolchain file brings its packages along.
 */
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';

// Loaded on first use: a build that needs no package names never pays for the YAML parser.
const require = createRequire(import.meta.url);
const parse = (text: string): unknown => (require('yaml') as typeof import('yaml')).parse(text);

export type Profile = 'build' | 'test';

export interface SystemNeed {
  /** What the user sees: an executable name or a library file. */
  tool: string;
  /** The Debian package that provides it. */
  debianPackage: string;
  profile: Profile;
  /** One line: what needs it. */
  why: string;
  /** Where it was found, or undefined. */
  find: () => string | undefined;
}

const SEARCH_PATH = ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'];

/** Absolute path of an executable in the system folders (not the caller's PATH), or undefined. */
export function findSystemExecutable(name: string): string | undefined {
  for (const dir of SEARCH_PATH) {
    const p = path.join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
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

/** libfaketime's preload library (the `faketime` wrapper program is not needed). */
export function findLibfaketime(): string | undefined {
  return [
    `/usr/lib/${multiarchTriplet()}/faketime/libfaketime.so.1`,
    '/usr/lib/faketime/libfaketime.so.1',
    '/usr/local/lib/faketime/libfaketime.so.1',
  ].find((p) => existsSync(p));
}

const exe = (tool: string, debianPackage: string, profile: Profile, why: string): SystemNeed => ({
  tool, debianPackage, profile, why, find: () => findSystemExecutable(tool),
});

/** The sandbox's tools: every program run needs them. */
export const BWRAP = exe('bwrap', 'bubblewrap', 'build', 'the sandbox every program runs in');
export const CC = exe('gcc', 'gcc', 'build', 'builds the sandbox supervisor once');
export const LIBFAKETIME: SystemNeed = {
  tool: 'libfaketime.so.1', debianPackage: 'libfaketime', profile: 'build',
  why: 'the fake clocks validate runs programs at', find: findLibfaketime,
};

/** What only the tests and the bench need, beside the toolchains. */
const TEST_ONLY: SystemNeed[] = [
  exe('make', 'make', 'test', 'the bench and its smoke test compare against make'),
  exe('ninja', 'ninja-build', 'test', 'the bench and its smoke test compare against ninja'),
  exe('nginx', 'nginx', 'test', 'the remote-cache tests serve Bazel\'s HTTP cache protocol with it'),
  exe('chromium', 'chromium', 'test', 'the web view\'s browser tests'),
];

interface ToolchainPackages {
  name: string;
  cxx: string;
  debianPackage: string;
  run: string[];
  runPackage: string | null;
}

/** The compiler and runner of every `toolchain/*.yaml` in `dir` (only the fields named here). */
export function toolchainPackages(dir: string): ToolchainPackages[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  } catch {
    return [];
  }
  const out: ToolchainPackages[] = [];
  for (const f of files) {
    const d = parse(readFileSync(path.join(dir, f), 'utf8')) as Partial<ToolchainPackages> | null;
    if (!d || typeof d.cxx !== 'string' || typeof d.debianPackage !== 'string') continue;
    out.push({ name: path.basename(f, '.yaml'), cxx: d.cxx, debianPackage: d.debianPackage, run: Array.isArray(d.run) ? d.run : [], runPackage: d.runPackage ?? null });
  }
  return out;
}

/**
 * Everything a profile needs. The native toolchain (`x86_64` on this kind of machine) is part of
 * `build`; the other toolchains (cross compilers, qemu) are for the tests and the cross targets.
 */
export function systemNeeds(profile: Profile, toolchainDir: string): SystemNeed[] {
  const needs: SystemNeed[] = [BWRAP, CC, LIBFAKETIME];
  const native = multiarchTriplet().split('-')[0];
  for (const tc of toolchainPackages(toolchainDir)) {
    const p: Profile = tc.name === native ? 'build' : 'test';
    needs.push(exe(tc.cxx, tc.debianPackage, p, `the ${tc.name} toolchain's compiler`));
    if (tc.run.length && tc.runPackage) needs.push(exe(tc.run[0]!, tc.runPackage, p, `runs ${tc.name} programs`));
  }
  needs.push(...TEST_ONLY);
  const seen = new Set<string>();
  const wanted = needs.filter((n) => (profile === 'test' || n.profile === 'build') && !seen.has(n.tool) && seen.add(n.tool));
  return [...wanted.filter((n) => n.profile === 'build'), ...wanted.filter((n) => n.profile === 'test')];
}

/** The project's own toolchain folder (this package's `toolchain/`). */
export function packageToolchainDir(): string {
  // src/setup/ when run from source (tests), dist/src/setup/ when compiled: the first folder up
  // that holds package.json is the package root.
  let dir = import.meta.dirname;
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'toolchain');
}
