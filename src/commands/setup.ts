/**
 * `asmgraph setup [--test]`: installs the Debian packages the project needs that are missing
 * (idempotent: nothing to do when all are there, and then it needs no root). `asmgraph doctor`:
 * the same list, checked, with the install line for what is missing.
 *
 * Exit codes: 0 everything present (or installed), 1 something is missing (doctor) or apt-get
 * failed (setup), 3 it cannot install here: not a Debian/Ubuntu system, or neither root nor sudo.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findSystemExecutable, packageToolchainDir, type Profile, type SystemNeed, systemNeeds } from '../setup/system-packages.js';

export const SETUP_EXIT = { ok: 0, missing: 1, cannotInstall: 3 } as const;

export interface SetupOptions {
  profile: Profile;
  /** Folder of toolchain definitions (default: this package's `toolchain/`). */
  toolchainDir?: string;
  out?: (line: string) => void;
}

interface Row {
  need: SystemNeed;
  at: string | undefined;
}

function rows(o: SetupOptions): Row[] {
  return systemNeeds(o.profile, o.toolchainDir ?? packageToolchainDir()).map((need) => ({ need, at: need.find() }));
}

const installLine = (pkgs: string[]) => `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
const uniq = (xs: string[]) => [...new Set(xs)];

/** `asmgraph doctor`: one line per tool, found or missing with its package. */
export function doctor(o: SetupOptions): number {
  const out = o.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const all = rows(o);
  const w = Math.max(...all.map((r) => r.need.tool.length));
  out(`system tools (${o.profile === 'test' ? 'building and testing' : 'building'}):`);
  for (const r of all) {
    const state = r.at ? `found    ${r.at}` : `MISSING  install: ${installLine([r.need.debianPackage])}`;
    out(`  ${r.at ? '✓' : '✗'} ${r.need.tool.padEnd(w)}  ${state}  (${r.need.why})`);
  }
  const missing = all.filter((r) => !r.at);
  if (!missing.length) {
    out('all present');
    return SETUP_EXIT.ok;
  }
  const pkgs = uniq(missing.map((r) => r.need.debianPackage));
  out(`missing ${missing.length}: run \`npm run setup${o.profile === 'test' ? ' -- --test' : ''}\` (as root or with sudo), or: ${installLine(pkgs)}`);
  return SETUP_EXIT.missing;
}

/** How to become root for apt-get: '' (we are), 'sudo', or undefined (cannot). */
function privilege(): '' | 'sudo' | undefined {
  if (process.getuid?.() === 0) return '';
  if (!findSystemExecutable('sudo')) return undefined;
  if (spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) return 'sudo';
  // sudo that asks for a password: only where someone can type it.
  return process.stdin.isTTY ? 'sudo' : undefined;
}

/** `asmgraph setup`: installs the missing packages with apt-get. */
export function setup(o: SetupOptions): number {
  const out = o.out ?? ((l: string) => process.stderr.write(`${l}\n`));
  const all = rows(o);
  const missing = all.filter((r) => !r.at);
  if (!missing.length) {
    out(`setup: all ${all.length} system tools for ${o.profile === 'test' ? 'building and testing' : 'building'} are present; nothing to install`);
    return SETUP_EXIT.ok;
  }
  const pkgs = uniq(missing.map((r) => r.need.debianPackage));
  out(`setup: missing ${missing.map((r) => r.need.tool).join(', ')} → Debian packages ${pkgs.join(' ')}`);
  if (!existsSync('/usr/bin/apt-get')) {
    out(`setup: this is not a Debian or Ubuntu system (no /usr/bin/apt-get); install the equivalent of: ${pkgs.join(' ')}`);
    return SETUP_EXIT.cannotInstall;
  }
  const sudo = privilege();
  if (sudo === undefined) {
    out(`setup: installing needs root, and this user is not root and has no usable sudo; as root, run: ${installLine(pkgs)}`);
    return SETUP_EXIT.cannotInstall;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args: string[]) => {
    const argv = sudo ? ['sudo', ...args] : args;
    out(`setup: ${argv.join(' ')}`);
    return spawnSync(argv[0]!, argv.slice(1), { stdio: ['inherit', 'inherit', 'inherit'], env }).status;
  };
  // A fresh machine has no package lists: update first, as `apt-get install` would fail without them.
  if (run(['apt-get', 'update']) !== 0) {
    out('setup: apt-get update failed (see above)');
    return SETUP_EXIT.missing;
  }
  if (run(['apt-get', 'install', '-y', '--no-install-recommends', ...pkgs]) !== 0) {
    out('setup: apt-get install failed (see above)');
    return SETUP_EXIT.missing;
  }
  const still = rows(o).filter((r) => !r.at);
  if (still.length) {
    out(`setup: installed, yet still missing: ${still.map((r) => `${r.need.tool} (${r.need.debianPackage})`).join(', ')}`);
    return SETUP_EXIT.missing;
  }
  out(`setup: installed ${pkgs.join(' ')}; all ${all.length} system tools present`);
  return SETUP_EXIT.ok;
}
