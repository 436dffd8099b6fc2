/**
 * `asmgraph setup` / `asmgraph doctor`: the one list of system packages, checked on this machine
 * and against a toolchain folder that names a compiler nobody has.
 */
import { spawn, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from './support/cli.js';

const IS_ROOT = process.getuid?.() === 0;
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => fsp.rm(d, { recursive: true, force: true })));
});

/** A toolchain folder whose native toolchain's compiler does not exist. */
async function brokenToolchains(): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-setup-'));
  dirs.push(dir);
  await fsp.chmod(dir, 0o755);
  await fsp.writeFile(path.join(dir, 'x86_64.yaml'), 'name: x86_64\ntriple: x86_64-linux-gnu\ncxx: asmgraph-no-such-g++\ndebianPackage: g++-asmgraph-test\nflags: []\nlinkFlags: []\nrun: []\nrunPackage: null\ncleanFlags: []\n');
  return dir;
}

describe('doctor', () => {
  it('on this machine: every tool the tests need is found, each with its path', async () => {
    const r = await runCli(process.cwd(), ['doctor', '--test']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const tool of ['bwrap', 'libfaketime.so.1', 'g++', 'aarch64-linux-gnu-g++', 'qemu-aarch64', 'qemu-riscv64', 'nginx', 'chromium', 'ninja']) {
      expect(r.stdout).toMatch(new RegExp(`✓ ${tool.replace(/[+.]/g, '\\$&')}\\s+found\\s+/`));
    }
    expect(r.stdout).toMatch(/all present/);
  });

  it('a missing tool: exit 1, marked missing with its package and the install line', async () => {
    const r = await runCli(process.cwd(), ['doctor', '--toolchains', await brokenToolchains()]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ asmgraph-no-such-g\+\+\s+MISSING\s+install: apt-get install -y --no-install-recommends g\+\+-asmgraph-test/);
    expect(r.stdout).toMatch(/✓ bwrap\s+found/);
    expect(r.stdout).toMatch(/missing 1: run `npm run setup`/);
  });
});

describe('setup', () => {
  it('with everything present: exit 0, nothing installed, no root needed', async () => {
    const r = await runCli(process.cwd(), ['setup', '--test']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/all \d+ system tools for building and testing are present; nothing to install/);
    expect(r.stderr).not.toMatch(/apt-get/);
  });

  // As root the case runs as an unprivileged user; a non-root developer with password-less sudo
  // would really install, so only there it cannot run.
  const passwordlessSudo = !IS_ROOT && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  it.skipIf(passwordlessSudo)('neither root nor sudo: exit 3 with the line to run as root', async () => {
    const tc = await brokenToolchains();
    if (IS_ROOT) {
      // The unprivileged user must reach the CLI: a checkout under a folder only root may enter
      // (mode 0700, as /root or mktemp -d make) fails here, with the reason, not as a missing module.
      const reach = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(CLI)}, require('fs').constants.R_OK)`], { uid: 65534, gid: 65534, encoding: 'utf8' });
      expect(reach.status, `uid 65534 cannot read ${CLI}: put the checkout where every user may enter its folders (${reach.stderr.split('\n').find((l) => /EACCES|ENOENT/.test(l)) ?? ''})`).toBe(0);
    }
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'setup', '--toolchains', tc], {
        cwd: os.tmpdir(),
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(IS_ROOT ? { uid: 65534, gid: 65534 } : {}),
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/missing asmgraph-no-such-g\+\+ → Debian packages g\+\+-asmgraph-test/);
    expect(r.stderr).toMatch(/not root and has no usable sudo; as root, run: apt-get install -y --no-install-recommends g\+\+-asmgraph-test/);
  });
});
