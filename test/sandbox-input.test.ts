/**
 * The sandbox's view of a program's input and clock, on real programs built with g++ (and the
 * aarch64 cross compiler under qemu): the supervisor notices when a program has read all of its
 * stdin and blocks reading more (how much it read, what it had printed), gives it end of input or
 * stops the run; large inputs and programs that never read stdin are unaffected; a stepped clock
 * makes elapsed time reproducible at one step and different at another, for every clock source,
 * natively and under qemu.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BubblewrapSandbox } from '../dist/src/sandbox/index.js';
import type { SandboxRequest } from '../dist/src/sandbox/sandbox.js';

const execFileP = promisify(execFile);
const sandbox = new BubblewrapSandbox();
let bin = '';

const PROGRAMS: Record<string, string> = {
  // Reads lines and echoes them upper-cased with a prompt before each read.
  echo: `#include <stdio.h>
#include <ctype.h>
int main(void) { char line[256]; for (;;) { printf("> "); fflush(stdout); if (!fgets(line, sizeof line, stdin)) break; for (char *p = line; *p; p++) *p = (char)toupper((unsigned char)*p); fputs(line, stdout); } puts("end"); return 0; }`,
  // Leaves the reading to a child process.
  child: `#include <stdio.h>
#include <stdlib.h>
int main(void) { printf("child says: "); fflush(stdout); int rc = system("/bin/cat"); printf("done %d\\n", rc); return 0; }`,
  // Never reads stdin.
  quiet: `#include <stdio.h>
int main(void) { puts("no input needed"); return 0; }`,
  // Counts every byte of a large input.
  count: `#include <stdio.h>
#include <unistd.h>
int main(void) { char b[4096]; long n = 0; ssize_t k; while ((k = read(0, b, sizeof b)) > 0) n += k; printf("%ld bytes\\n", n); return 0; }`,
  // Elapsed time through every clock source, in one line.
  clocks: `#include <chrono>
#include <cstdio>
#include <ctime>
#include <sys/time.h>
int main() {
  auto s = std::chrono::steady_clock::now(); auto e = std::chrono::steady_clock::now();
  auto ys = std::chrono::system_clock::now(); auto ye = std::chrono::system_clock::now();
  clock_t c0 = clock(); clock_t c1 = clock();
  time_t t0 = time(nullptr); time_t t1 = time(nullptr);
  timeval g0, g1; gettimeofday(&g0, nullptr); gettimeofday(&g1, nullptr);
  timespec m0, m1; clock_gettime(CLOCK_MONOTONIC, &m0); clock_gettime(CLOCK_MONOTONIC, &m1);
  timespec p0, p1; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p0); clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p1);
  std::printf("steady %lld system %lld clock %ld time %ld gtod %ld mono %ld cpu %ld\\n",
    (long long)std::chrono::duration_cast<std::chrono::nanoseconds>(e - s).count(),
    (long long)std::chrono::duration_cast<std::chrono::nanoseconds>(ye - ys).count(),
    (long)(c1 - c0), (long)(t1 - t0), (g1.tv_sec - g0.tv_sec) * 1000000L + (g1.tv_usec - g0.tv_usec),
    (m1.tv_sec - m0.tv_sec) * 1000000000L + (m1.tv_nsec - m0.tv_nsec), (p1.tv_sec - p0.tv_sec) * 1000000000L + (p1.tv_nsec - p0.tv_nsec));
}`,
};

beforeAll(async () => {
  bin = fs.mkdtempSync(path.join(os.tmpdir(), 'asmgraph-sbin-'));
  fs.chmodSync(bin, 0o755);
  for (const [name, src] of Object.entries(PROGRAMS)) {
    const cpp = name === 'clocks';
    const file = path.join(bin, `${name}.${cpp ? 'cpp' : 'c'}`);
    fs.writeFileSync(file, src);
    await execFileP(cpp ? 'g++' : 'gcc', ['-O0', '-o', path.join(bin, name), file]);
  }
  await execFileP('aarch64-linux-gnu-g++', ['-O0', '-o', path.join(bin, 'clocks-a64'), path.join(bin, 'clocks.cpp')]);
}, 120_000);

afterAll(() => {
  if (bin) fs.rmSync(bin, { recursive: true, force: true });
});

async function run(name: string, req: Partial<SandboxRequest> = {}, argvPrefix: string[] = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asmgraph-sbox-'));
  fs.chmodSync(dir, 0o755);
  fs.copyFileSync(path.join(bin, name), path.join(dir, 'prog'));
  fs.chmodSync(path.join(dir, 'prog'), 0o755);
  try {
    return await sandbox.run({ argv: [...argvPrefix, './prog'], dir, limits: { wallMs: 10_000 }, ...req });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('a program waiting for input', () => {
  it('gets end of input once it has read everything and asks for more; the result says how much it read and printed', async () => {
    const r = await run('echo', { stdin: 'ab\ncd\n' });
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r.stdout.toString()).toBe('> AB\n> CD\n> end\n');
    expect(r.inputWait).toEqual({ consumed: 6, stdoutBytes: '> AB\n> CD\n> '.length });
  });

  it('with onInputWait "stop", the run ends the moment it waits', async () => {
    const r = await run('echo', { stdin: 'x\n', onInputWait: 'stop' });
    expect(r.outcome).toEqual({ kind: 'waiting-for-input' });
    expect(r.inputWait).toEqual({ consumed: 2, stdoutBytes: 6 });
    expect(r.stdout.toString().slice(0, r.inputWait!.stdoutBytes)).toBe('> X\n> ');
  });

  it('a process the program started that reads stdin is seen too', async () => {
    const r = await run('child', { stdin: 'from the pipe\n' });
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r.stdout.toString()).toBe('child says: from the pipe\ndone 0\n');
    expect(r.inputWait).toEqual({ consumed: 14, stdoutBytes: 'child says: from the pipe\n'.length });
  });

  it('a program that never reads stdin is not affected, even with input given', async () => {
    const r = await run('quiet', { stdin: 'unused\n', onInputWait: 'stop' });
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r.stdout.toString()).toBe('no input needed\n');
    expect(r.inputWait).toBeUndefined();
  });

  it('an input larger than a pipe buffer is delivered whole', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'z');
    const r = await run('count', { stdin: big });
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r.stdout.toString()).toBe(`${big.length} bytes\n`);
    expect(r.inputWait).toEqual({ consumed: big.length, stdoutBytes: 0 });
  });
});

describe('a stepped clock', () => {
  const A = { faketime: '2001-02-03 04:05:06', clockStep: { wallSeconds: 0.25, cpuNanoseconds: 1000 } };
  const B = { faketime: '2019-11-12 13:14:15', clockStep: { wallSeconds: 1.75, cpuNanoseconds: 7000 } };

  it('elapsed time through every clock source is the same at one step and differs at another', async () => {
    const a1 = (await run('clocks', A)).stdout.toString();
    const a2 = (await run('clocks', A)).stdout.toString();
    const b = (await run('clocks', B)).stdout.toString();
    expect(a1).toBe('steady 250000000 system 250000000 clock 1 time 0 gtod 250000 mono 250000000 cpu 1000\n');
    expect(a2).toBe(a1);
    expect(b).toBe('steady 1750000000 system 1750000000 clock 7 time 1 gtod 1750000 mono 1750000000 cpu 7000\n');
  });

  it('the same under qemu-aarch64', async () => {
    const qemu = ['qemu-aarch64', '-L', '/usr/aarch64-linux-gnu'];
    const a = (await run('clocks-a64', A, qemu)).stdout.toString();
    const again = (await run('clocks-a64', A, qemu)).stdout.toString();
    const b = (await run('clocks-a64', B, qemu)).stdout.toString();
    expect(again).toBe(a);
    // time() has whole seconds: how a 1.75 s step rounds depends on how many clock reads qemu
    // itself made before; the rest is exact.
    expect(a).toMatch(/^steady 250000000 system 250000000 clock 1 time [01] gtod 250000 mono 250000000 cpu 1000\n$/);
    expect(b).toMatch(/^steady 1750000000 system 1750000000 clock 7 time [12] gtod 1750000 mono 1750000000 cpu 7000\n$/);
  });
});
