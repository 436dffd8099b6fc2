/**
 * Toolchain definitions (`toolchain/<name>.yaml`, documented in toolchain/README.md): loading,
 * validation, identity (for cache keys) and the "is it installed?" check.
 */
import { statSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { InfraError, type Facts, type Json, type JsonObject } from '../../src/task-api.js';
import { commandStamp, fileStamp } from '../../src/store/facts.js';
import { runProcess, SpawnError } from './proc.js';

// yaml is loaded on first parse (most runs find every toolchain already parsed, or need none).
const require = createRequire(import.meta.url);
const parseYaml = (text: string): unknown => (require('yaml') as typeof import('yaml')).parse(text);

export interface Toolchain {
  /** Same as the file's base name. */
  name: string;
  /** GNU target triple, e.g. `aarch64-linux-gnu`; must match `cxx -dumpmachine`. */
  triple: string;
  /** The C++ compiler driver (used for compiling, assembling and linking). */
  cxx: string;
  /** Debian package that provides `cxx`. */
  debianPackage: string;
  /** Flags for every compile (`-S`, reference build, PCH), before the caller's own flags. */
  flags: string[];
  /** Flags appended when linking (after the inputs). */
  linkFlags: string[];
  /** argv prefix to run a built program: `[]` native, `[qemu-aarch64, -L, sysroot]` cross. */
  run: string[];
  /** Debian package that provides `run[0]`; null when `run` is empty. */
  runPackage: string | null;
  /** Flags that cut noise from the assembly on this target without changing behaviour. */
  cleanFlags: string[];
  /** Absolute path of the definition file. */
  file: string;
}

const FIELDS = ['name', 'triple', 'cxx', 'debianPackage', 'flags', 'linkFlags', 'run', 'runPackage', 'cleanFlags'];

export function toolchainDir(projectRoot: string): string {
  return path.join(projectRoot, 'toolchain');
}

/** Names of the toolchains defined in `<projectRoot>/toolchain/*.yaml`, sorted. */
export async function listToolchains(projectRoot: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(toolchainDir(projectRoot));
  } catch {
    return [];
  }
  return entries
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

function fail(file: string, msg: string): never {
  throw new InfraError(`invalid toolchain definition ${file}: ${msg}`);
}

function str(file: string, doc: Record<string, unknown>, key: string): string {
  const v = doc[key];
  if (typeof v !== 'string' || v.trim() === '') fail(file, `'${key}' must be a non-empty string`);
  return v;
}

function strList(file: string, doc: Record<string, unknown>, key: string, optional = false): string[] {
  const v = doc[key];
  if (v === undefined && optional) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) {
    fail(file, `'${key}' must be a list of non-empty strings`);
  }
  return [...v] as string[];
}

/** Validates a parsed definition; exported for tests and for tools that build toolchains in memory. */
export function parseToolchain(doc: unknown, file: string, expectedName?: string): Toolchain {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) fail(file, 'expected a mapping');
  const d = doc as Record<string, unknown>;
  const unknown = Object.keys(d).filter((k) => !FIELDS.includes(k));
  if (unknown.length) fail(file, `unknown field(s) ${unknown.join(', ')} (allowed: ${FIELDS.join(', ')})`);
  const name = str(file, d, 'name');
  if (expectedName !== undefined && name !== expectedName) {
    fail(file, `'name' is '${name}' but the file is named ${expectedName}.yaml`);
  }
  const run = strList(file, d, 'run', true);
  const runPackage = d.runPackage ?? null;
  if (runPackage !== null && (typeof runPackage !== 'string' || runPackage === '')) {
    fail(file, `'runPackage' must be a string or null`);
  }
  if (run.length > 0 && runPackage === null) fail(file, `'runPackage' is required when 'run' is not empty`);
  return {
    name,
    triple: str(file, d, 'triple'),
    cxx: str(file, d, 'cxx'),
    debianPackage: str(file, d, 'debianPackage'),
    flags: strList(file, d, 'flags', true),
    linkFlags: strList(file, d, 'linkFlags', true),
    run,
    runPackage: runPackage as string | null,
    cleanFlags: strList(file, d, 'cleanFlags', true),
    file,
  };
}

/** Loads and validates `toolchain/<name>.yaml`; an unknown name lists the known ones. */
export async function loadToolchain(projectRoot: string, name: string, facts?: Facts): Promise<Toolchain> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new InfraError(`invalid toolchain name '${name}'`);
  const file = path.join(toolchainDir(projectRoot), `${name}.yaml`);
  // Every compile and validate node asks: parse each file once per version of it.
  const st = statSync(file, { throwIfNoEntry: false });
  const stamp = st && `${st.size}:${st.mtimeMs}:${st.ino}`;
  const known = stamp ? parsedToolchains.get(file) : undefined;
  if (known && known.stamp === stamp) return known.tc;
  // Parsed in an earlier build and unchanged since: no YAML parser (it costs a no-op ~20 ms).
  const lasting = facts && fileStamp(file);
  const remembered = lasting ? facts.get(`toolchain-file ${file}`, lasting) : undefined;
  if (remembered !== undefined) {
    const tc = parseToolchain(remembered, file, name);
    if (stamp) parsedToolchains.set(file, { stamp, tc });
    return tc;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    const known = await listToolchains(projectRoot);
    throw new InfraError(
      `unknown toolchain '${name}' (known: ${known.length ? known.join(', ') : 'none'}; definitions live in ${toolchainDir(projectRoot)})`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    fail(file, `YAML parse error: ${(e as Error).message}`);
  }
  const tc = parseToolchain(doc, file, name);
  if (facts && lasting) facts.set(`toolchain-file ${file}`, lasting, doc as Json);
  // A file changed within the last moments could change again with the same size and mtime.
  if (stamp && Date.now() - st.mtimeMs > 2000) parsedToolchains.set(file, { stamp, tc });
  return tc;
}

const parsedToolchains = new Map<string, { stamp: string; tc: Toolchain }>();

/** The InfraError for a missing compiler or runner, naming the Debian package to install. */
export function missingToolError(tc: Toolchain, command: string): InfraError {
  const pkg = command === tc.run[0] && tc.runPackage ? tc.runPackage : tc.debianPackage;
  return new InfraError(
    `toolchain ${tc.name}: ${command} not found — install it with: apt-get install ${pkg}`,
    `apt-get install ${pkg}`,
  );
}

/** Runs a toolchain command, turning "not installed" into an InfraError. */
export async function runTool(tc: Toolchain, argv: string[], opts: Parameters<typeof runProcess>[1] = {}) {
  try {
    // The driver's temporary files (the .s and .o between cc1plus, as and ld) go into the work
    // folder, not the system temp dir.
    const env = opts.cwd && !opts.env ? { ...process.env, TMPDIR: path.resolve(opts.cwd) } : opts.env;
    return await runProcess(argv, { ...opts, env });
  } catch (e) {
    if (e instanceof SpawnError) throw missingToolError(tc, e.command);
    throw e;
  }
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0]!.trim();
}

const identityCache = new Map<string, Promise<JsonObject>>();

/**
 * Everything that can change the outputs of this toolchain, as JSON for cache keys:
 * compiler version and target, flags, link flags, run prefix and the runner's version.
 * Memoised per process (per distinct definition). Throws InfraError when the compiler or the
 * runner is missing, or when `cxx -dumpmachine` disagrees with `triple`.
 */
export function toolchainIdentity(tc: Toolchain, facts?: Facts): Promise<JsonObject> {
  const key = JSON.stringify([tc.name, tc.triple, tc.cxx, tc.flags, tc.linkFlags, tc.run, tc.cleanFlags]);
  let p = identityCache.get(key);
  if (!p) {
    p = rememberedIdentity(tc, key, facts);
    identityCache.set(key, p);
    p.catch(() => identityCache.delete(key));
  }
  return p;
}

/**
 * The identity learned in an earlier build, while the compiler and the runner are the same files
 * (same real path, size, times and inode: an upgrade replaces them); else learned and remembered.
 */
async function rememberedIdentity(tc: Toolchain, key: string, facts: Facts | undefined): Promise<JsonObject> {
  const stamps = facts ? [commandStamp(tc.cxx), tc.run.length ? commandStamp(tc.run[0]!) : '-'] : [];
  const stamp = facts && stamps.every((s) => s !== undefined) ? stamps.join('\n') : undefined;
  const remembered = stamp ? facts!.get(`toolchain-identity/2 ${key}`, stamp) : undefined;
  if (remembered && typeof remembered === 'object' && !Array.isArray(remembered)) return remembered;
  const identity = await computeIdentity(tc);
  if (stamp) facts!.set(`toolchain-identity/2 ${key}`, stamp, identity);
  return identity;
}

async function computeIdentity(tc: Toolchain): Promise<JsonObject> {
  const [version, machine, runner, autoVarInit] = await Promise.all([
    runTool(tc, [tc.cxx, '--version']),
    runTool(tc, [tc.cxx, '-dumpmachine']),
    tc.run.length ? runTool(tc, [tc.run[0]!, '--version']) : Promise.resolve(null),
    // validate's uninitialised-memory check needs it (GCC 12 and later, clang 8 and later).
    runTool(tc, [tc.cxx, '-ftrivial-auto-var-init=pattern', '-fsyntax-only', '-x', 'c++', '/dev/null']),
  ]);
  if (version.code !== 0) throw new InfraError(`toolchain ${tc.name}: '${tc.cxx} --version' failed: ${version.stderr.trim()}`);
  const dumpmachine = machine.stdout.trim();
  if (dumpmachine !== tc.triple) {
    throw new InfraError(`toolchain ${tc.name}: ${tc.cxx} targets ${dumpmachine}, but the definition says triple ${tc.triple}`);
  }
  if (runner && runner.code !== 0) {
    throw new InfraError(`toolchain ${tc.name}: '${tc.run[0]} --version' failed: ${runner.stderr.trim()}`);
  }
  return {
    name: tc.name,
    triple: tc.triple,
    cxx: tc.cxx,
    cxxVersion: firstLine(version.stdout),
    dumpmachine,
    flags: tc.flags,
    linkFlags: tc.linkFlags,
    cleanFlags: tc.cleanFlags,
    run: tc.run,
    runnerVersion: runner ? firstLine(runner.stdout) : null,
    // Only when missing, so that the identity (and every key) of a compiler that has it is unchanged.
    ...(autoVarInit.code !== 0 ? { noAutoVarInit: true } : {}),
  };
}

const checkLinkCache = new Map<string, Promise<string[]>>();

/**
 * Link flags for executables that only the checks run and nobody is promised (the reference's
 * pattern-filled build, and its first build when no candidate shares that run; program-check.ts):
 * `-fuse-ld=gold` when this toolchain's driver finds `ld.gold`, else none.
 * gold links a libstdc++ program in about a third of bfd's time; what the dataset promises (the
 * candidate, linked with `<cxx> prog.s -o prog`) stays on the toolchain's own linker.
 * Memoised per process.
 */
export function checkLinkFlags(tc: Toolchain): Promise<string[]> {
  const key = JSON.stringify([tc.cxx, tc.linkFlags]);
  let p = checkLinkCache.get(key);
  if (!p) {
    p = (async () => {
      if (tc.linkFlags.some((f) => f.startsWith('-fuse-ld='))) return [];
      // The driver runs the linker it would use; gold names itself ("GNU gold ...").
      const r = await runTool(tc, [tc.cxx, '-fuse-ld=gold', '-Wl,--version']).catch(() => null);
      return r?.code === 0 && /^GNU gold/m.test(r.stdout) ? ['-fuse-ld=gold'] : [];
    })();
    checkLinkCache.set(key, p);
  }
  return p;
}

/** Checks that the compiler and runner are installed (via the memoised identity). */
export async function ensureToolchain(tc: Toolchain): Promise<void> {
  await toolchainIdentity(tc);
}
