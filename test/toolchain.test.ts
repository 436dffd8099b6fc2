import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfraError } from '../src/task-api.js';
import { buildFromAsm, compileToAsm, runExecutable, removeDir } from '../tasks/lib/gxx.js';
import { listToolchains, loadToolchain, toolchainIdentity } from '../tasks/lib/toolchain.js';

const ROOT = path.resolve(import.meta.dirname, '..');

const HELLO = `#include <cstdio>
int main() {
    std::printf("hello from %d bits\\n", (int)(sizeof(void*) * 8));
    return 0;
}
`;

describe('toolchain definitions', () => {
  it('lists the shipped toolchains', async () => {
    expect(await listToolchains(ROOT)).toEqual(['aarch64', 'gcc11', 'riscv64', 'x86_64']);
  });

  it('loads and validates every definition', async () => {
    for (const name of await listToolchains(ROOT)) {
      const tc = await loadToolchain(ROOT, name);
      expect(tc.name).toBe(name);
      expect(tc.flags).toContain('-std=gnu++17');
      expect(tc.triple).toMatch(/-linux-gnu$/);
      if (name === 'x86_64' || name === 'gcc11') expect(tc.run).toEqual([]);
      else expect(tc.run[0]).toBe(`qemu-${name}`);
    }
  });

  it('rejects an unknown name, listing the known ones', async () => {
    await expect(loadToolchain(ROOT, 'mips')).rejects.toThrow(/unknown toolchain 'mips' \(known: aarch64, gcc11, riscv64, x86_64/);
    await expect(loadToolchain(ROOT, 'mips')).rejects.toBeInstanceOf(InfraError);
  });

  it('identity covers compiler version, machine, flags and runner version (memoised)', async () => {
    const tc = await loadToolchain(ROOT, 'aarch64');
    const id = await toolchainIdentity(tc);
    expect(id.cxxVersion).toMatch(/^aarch64-linux-gnu-g\+\+ .*\d+\.\d+/);
    expect(id.dumpmachine).toBe('aarch64-linux-gnu');
    expect(id.flags).toEqual(tc.flags);
    expect(id.run).toEqual(tc.run);
    expect(id.runnerVersion).toMatch(/^qemu-aarch64 version /);
    expect(toolchainIdentity(tc)).toBe(toolchainIdentity(tc));
    const native = await toolchainIdentity(await loadToolchain(ROOT, 'x86_64'));
    expect(native.runnerVersion).toBeNull();
    expect(native.dumpmachine).toBe('x86_64-linux-gnu');
    // g++ 12 has -ftrivial-auto-var-init (its identity, and so every key, says nothing of it); g++-11 has not.
    expect(native.noAutoVarInit).toBeUndefined();
    expect((await toolchainIdentity(await loadToolchain(ROOT, 'gcc11'))).noAutoVarInit).toBe(true);
  });
});

describe('missing toolchain', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'asmgraph-tc-'));
    await mkdir(path.join(root, 'toolchain'));
    await writeFile(
      path.join(root, 'toolchain', 'ghost.yaml'),
      [
        'name: ghost',
        'triple: ghost-linux-gnu',
        'cxx: ghost-linux-gnu-g++-does-not-exist',
        'debianPackage: g++-ghost-linux-gnu',
        'flags: [-std=gnu++17]',
        'run: [qemu-ghost-does-not-exist]',
        'runPackage: qemu-user',
        '',
      ].join('\n'),
    );
    await writeFile(path.join(root, 'toolchain', 'bad.yaml'), 'name: bad\ntriple: x\ncxx: g++\nflags: -O2\n');
    await writeFile(
      path.join(root, 'toolchain', 'norunner.yaml'),
      'name: norunner\ntriple: x86_64-linux-gnu\ncxx: g++\ndebianPackage: g++\nrun: [qemu-nothing-here]\nrunPackage: qemu-user\n',
    );
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('names the Debian package when the compiler is missing', async () => {
    const tc = await loadToolchain(root, 'ghost');
    const msg = 'toolchain ghost: ghost-linux-gnu-g++-does-not-exist not found — install it with: apt-get install g++-ghost-linux-gnu';
    await expect(toolchainIdentity(tc)).rejects.toThrow(msg);
    await expect(toolchainIdentity(tc)).rejects.toBeInstanceOf(InfraError);
    // The compile path gives the same error (not a compile-error value).
    await expect(compileToAsm({ tc, source: HELLO })).rejects.toThrow(msg);
  });

  it('names the runner package when the runner is missing', async () => {
    const tc = await loadToolchain(root, 'norunner');
    await expect(toolchainIdentity(tc)).rejects.toThrow(
      'toolchain norunner: qemu-nothing-here not found — install it with: apt-get install qemu-user',
    );
  });

  it('rejects a malformed definition', async () => {
    await expect(loadToolchain(root, 'bad')).rejects.toThrow(/invalid toolchain definition .*bad\.yaml/);
  });
});

describe.each(['aarch64', 'riscv64'])('cross target %s', (name) => {
  it('compiles to .s, assembles, links and runs under qemu', async () => {
    const tc = await loadToolchain(ROOT, name);
    const c = await compileToAsm({ tc, source: HELLO, flags: ['-O2', ...tc.cleanFlags] });
    expect(c.ok).toBe(true);
    if (!c.ok) return;
    expect(c.asm).toContain('.file\t"prog.cpp"');
    expect(c.asm).not.toContain('.ident');
    const b = await buildFromAsm(tc, c.asm);
    expect(b).toMatchObject({ ok: true });
    if (!b.ok) return;
    try {
      const r = await runExecutable(tc, b.exePath);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('hello from 64 bits\n');
    } finally {
      await removeDir(path.dirname(b.exePath));
    }
  });
});
