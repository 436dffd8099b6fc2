/**
 * Hostile-program tests for src/sandbox. Real processes, no mocks: fixtures in
 * test/fixtures/hostile are compiled with g++/gcc (and aarch64-linux-gnu-g++) in beforeAll.
 * Every run gets a unique marker in its environment; right after each run we scan /proc for any
 * process whose cmdline or environ carries it and require that none is left.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BubblewrapSandbox, sandboxIdentity } from '../src/sandbox/index.js';
import type { SandboxRequest, SandboxResult } from '../src/sandbox/sandbox.js';

const execFileP = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.join(HERE, 'fixtures', 'hostile');
const PROJECT_ROOT = path.resolve(HERE, '..');
const QEMU_A64 = ['qemu-aarch64', '-L', '/usr/aarch64-linux-gnu'];
const IS_ROOT = process.getuid?.() === 0;
const sandbox = new BubblewrapSandbox();

/** Small limits keep hostile tests fast. */
const FAST = { wallMs: 1500, cpuSeconds: 1 };

let binDir: string; // compiled fixtures (host-owned, copied into each run's dir)
const tempDirs: string[] = [];

function newMarker(): string {
  return `asmgraph-sbx-marker-${randomBytes(8).toString('hex')}`;
}

/** Host pids of processes whose cmdline or environ contains the marker. */
function processesWithMarker(marker: string): number[] {
  const found: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    for (const file of ['cmdline', 'environ']) {
      try {
        if (fs.readFileSync(`/proc/${name}/${file}`).includes(marker)) {
          found.push(Number(name));
          break;
        }
      } catch {
        /* vanished or unreadable */
      }
    }
  }
  return found;
}

async function waitFor(cond: () => boolean, what: string, maxMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > maxMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function makeRunDir(...bins: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asmgraph-sbx-test-'));
  tempDirs.push(dir);
  for (const b of bins) fs.copyFileSync(path.join(binDir, b), path.join(dir, b));
  for (const b of bins) fs.chmodSync(path.join(dir, b), 0o755);
  return dir;
}

interface Run extends SandboxResult {
  marker: string;
  out: string;
  err: string;
}

/** Runs `bin` (a compiled fixture) sandboxed with a fresh marker, then asserts no survivors. */
async function run(
  bin: string,
  args: string[] = [],
  req: Partial<SandboxRequest> & { qemu?: boolean; marker?: string } = {},
): Promise<Run> {
  const marker = req.marker ?? newMarker();
  const dir = req.dir ?? makeRunDir(bin);
  const argv = [...(req.qemu ? QEMU_A64 : []), `./${bin}`, ...args];
  const r = await sandbox.run({ ...req, argv, dir, env: { ...(req.env ?? {}), ASMGRAPH_MARKER: marker } });
  expect(processesWithMarker(marker), `processes left behind by ${bin}`).toEqual([]);
  return { ...r, marker, out: r.stdout.toString(), err: r.stderr.toString() };
}

async function compile(src: string, out: string, compiler: string, extra: string[] = []): Promise<void> {
  await execFileP(compiler, ['-O1', '-o', path.join(binDir, out), path.join(FIXTURES, src), ...extra]);
}

beforeAll(async () => {
  binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'asmgraph-sbx-bin-'));
  const c = (name: string) => compile(`${name}.c`, name, 'gcc');
  await Promise.all([
    compile('hello.cpp', 'hello', 'g++'),
    compile('hello.cpp', 'hello_a64', 'aarch64-linux-gnu-g++'),
    compile('print_time.c', 'print_time_a64', 'aarch64-linux-gnu-gcc'),
    compile('alloc.c', 'alloc_a64', 'aarch64-linux-gnu-gcc'),
    compile('segv.c', 'segv_a64', 'aarch64-linux-gnu-gcc'),
    compile('spin.c', 'spin_a64', 'aarch64-linux-gnu-gcc'),
    ...[
      'echo_stdin',
      'exit3',
      'segv',
      'abort',
      'spin',
      'sleeper',
      'forkbomb',
      'alloc',
      'spew',
      'daemon',
      'write_files',
      'read_file',
      'print_env',
      'connect',
      'print_time',
      'probe',
      'big_file',
      'open_many',
    ].map(c),
  ]);
  await sandbox.check();
});

afterAll(() => {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  if (binDir) fs.rmSync(binDir, { recursive: true, force: true });
});

describe('basic behaviour', () => {
  it('hello world: exit 0, exact stdout', async () => {
    const r = await run('hello');
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r.out).toBe('Hello, sandbox!\n');
    expect(r.err).toBe('');
  });

  it('passes stdin through (string and bytes)', async () => {
    const text = 'line one\nline two\n' + 'x'.repeat(200_000) + '\n';
    const r = await run('echo_stdin', [], { stdin: text });
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r.out).toBe(text);
    const bytes = new Uint8Array([0, 1, 2, 255, 10]);
    const r2 = await run('echo_stdin', [], { stdin: bytes });
    expect([...r2.stdout]).toEqual([...bytes]);
    const r3 = await run('echo_stdin'); // default: empty stdin, must not hang
    expect(r3.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r3.out).toBe('');
  });

  it('reports exit code 3 (also when a large stdin is left unread)', async () => {
    const r = await run('exit3');
    expect(r.outcome).toEqual({ kind: 'exited', code: 3 });
    const r2 = await run('exit3', [], { stdin: Buffer.alloc(8 * 1024 * 1024, 'a') });
    expect(r2.outcome).toEqual({ kind: 'exited', code: 3 });
  });

  it('segfault → signaled SIGSEGV', async () => {
    const r = await run('segv');
    expect(r.outcome).toEqual({ kind: 'signaled', signal: 'SIGSEGV' });
  });

  it('abort → signaled SIGABRT', async () => {
    const r = await run('abort');
    expect(r.outcome).toEqual({ kind: 'signaled', signal: 'SIGABRT' });
  });

  it('runs as an unprivileged uid in /box with no leaked fds, own hostname and PID namespace', async () => {
    const r = await run('probe');
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    const facts = Object.fromEntries(r.out.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
    if (IS_ROOT) expect(Number(facts.uid)).toBeGreaterThanOrEqual(61000);
    expect(facts.uid).not.toBe('0');
    expect(facts.euid).not.toBe('0');
    expect(facts.cwd).toBe('/box');
    expect(facts.host).toBe('asmgraph-sandbox');
    expect(facts.fds).toBe('0,1,2,');
    // bwrap's PID 1, the supervisor and the probe itself; no host processes.
    expect(Number(facts.procs)).toBeLessThanOrEqual(3);
  });

  // Without root there is no uid to drop to: bwrap runs as the caller, who can reach its own dirs.
  it.skipIf(!IS_ROOT)('rejects a dir the sandbox uid cannot reach, with a clear error (needs root)', async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'asmgraph-sbx-private-')); // mode 0700
    tempDirs.push(parent);
    const dir = path.join(parent, 'work');
    fs.mkdirSync(dir);
    await expect(sandbox.run({ argv: ['/bin/true'], dir })).rejects.toThrow(/not searchable by others/);
    // Never chown a system location.
    await expect(sandbox.run({ argv: ['/bin/true'], dir: '/usr' })).rejects.toThrow(/system location/);
  });

  it('files written in dir persist and are handed back to the caller', async () => {
    const dir = makeRunDir('write_files');
    const r = await run('write_files', ['made-inside.txt'], { dir });
    expect(r.out).toBe('made-inside.txt: ok\n');
    const st = fs.statSync(path.join(dir, 'made-inside.txt'));
    expect(fs.readFileSync(path.join(dir, 'made-inside.txt'), 'utf8')).toBe('escaped\n');
    expect(st.uid).toBe(process.getuid!());
    expect(fs.statSync(dir).uid).toBe(process.getuid!());
  });
});

describe('limits', () => {
  it('infinite loop → timeout (cpu limit)', async () => {
    // The wall limit is far away: only the CPU limit can end this run.
    const r = await run('spin', [], { limits: { wallMs: 600_000, cpuSeconds: 1 } });
    expect(r.outcome).toEqual({ kind: 'timeout', limit: 'cpu' });
  });

  it('infinite loop → timeout (wall limit) when the wall limit is lower', async () => {
    const r = await run('spin', [], { limits: { wallMs: 1500, cpuSeconds: 30 } });
    expect(r.outcome).toEqual({ kind: 'timeout', limit: 'wall' });
    expect(r.wallMs).toBeGreaterThanOrEqual(1400);
  });

  it('sleep ignoring SIGTERM is killed at the wall timeout', async () => {
    const r = await run('sleeper', [], { limits: FAST });
    expect(r.outcome).toEqual({ kind: 'timeout', limit: 'wall' });
    expect(r.out).toBe('sleeping\n');
    expect(r.wallMs).toBeGreaterThanOrEqual(1400);
  });

  it('10 GB allocation (malloc + memset) fails and is classified', async () => {
    const r = await run('alloc', ['10240']);
    expect(r.outcome).toEqual({ kind: 'exited', code: 2 });
    expect(r.out).toBe('malloc failed\n');
    // ...while a modest allocation works under the same default limit.
    const ok = await run('alloc', ['300']);
    expect(ok.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(ok.out).toBe('allocated 300 MiB, checksum 76800\n');
  });

  it('memoryBytes is configurable', async () => {
    const r = await run('alloc', ['300'], { limits: { memoryBytes: 256 * 1024 * 1024 } });
    expect(r.outcome).toEqual({ kind: 'exited', code: 2 });
    expect(r.out).toBe('malloc failed\n');
  });

  it('fileSizeBytes: writing past the limit → SIGXFSZ, file truncated at the limit', async () => {
    const dir = makeRunDir('big_file');
    const r = await run('big_file', ['2048'], { dir, limits: { fileSizeBytes: 1024 * 1024 } });
    expect(r.outcome).toEqual({ kind: 'signaled', signal: 'SIGXFSZ' });
    expect(fs.statSync(path.join(dir, 'big.bin')).size).toBeLessThanOrEqual(1024 * 1024);
    const ok = await run('big_file', ['512'], { limits: { fileSizeBytes: 1024 * 1024 } });
    expect(ok.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(ok.out).toBe('wrote 512 KiB\n');
  });

  it('private tmpfs is size-capped (tmpBytes)', async () => {
    const r = await run('big_file', ['16384', '/tmp/big.bin'], {
      limits: { fileSizeBytes: 64 * 1024 * 1024, tmpBytes: 4 * 1024 * 1024 },
    });
    expect(r.outcome).toEqual({ kind: 'exited', code: 1 });
    expect(r.out).toMatch(/^(write failed after \d+ KiB|close failed)\n$/);
    const done = /after (\d+) KiB/.exec(r.out);
    if (done) expect(Number(done[1])).toBeLessThanOrEqual(4096);
  });

  it('openFiles caps descriptors (default 64)', async () => {
    const r = await run('open_many');
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r.out).toBe('opened 61, total 64\n');
    const r2 = await run('open_many', [], { limits: { openFiles: 16 } });
    expect(r2.out).toBe('opened 13, total 16\n');
  });

  it('endless stdout → output-too-large, output capped exactly', async () => {
    // Far-away time limits: only the output cap can end this run.
    const r = await run('spew', [], { limits: { wallMs: 600_000, cpuSeconds: 600, outputBytes: 64 * 1024 } });
    expect(r.outcome).toEqual({ kind: 'output-too-large', stream: 'stdout' });
    expect(r.stdout.length).toBe(64 * 1024);
  });

  it('endless stderr → output-too-large on stderr', async () => {
    const r = await run('spew', ['stderr'], { limits: { ...FAST, wallMs: 10_000, outputBytes: 1000 } });
    expect(r.outcome).toEqual({ kind: 'output-too-large', stream: 'stderr' });
    expect(r.stderr.length).toBe(1000);
  });

  it('fork bomb is contained; a concurrent run (even on the same uid) still works', async () => {
    const bombUid = 61990;
    const marker = newMarker();
    const limits = { wallMs: 4000, cpuSeconds: 10, processes: 32 };
    const bomb = run('forkbomb', [], { limits, marker, ...(IS_ROOT ? { uid: bombUid } : {}) });
    // Wait until the bomb has hit its process limit.
    await waitFor(() => processesWithMarker(marker).length >= 33, 'the fork bomb to saturate');
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, processesWithMarker(marker).length)), 20);
    try {
      const [other, sameUid] = await Promise.all([
        run('hello'),
        run('hello', [], IS_ROOT ? { uid: bombUid } : {}),
      ]);
      expect(other.outcome).toEqual({ kind: 'exited', code: 0 });
      expect(other.out).toBe('Hello, sandbox!\n');
      expect(sameUid.outcome).toEqual({ kind: 'exited', code: 0 });
      expect(sameUid.out).toBe('Hello, sandbox!\n');
      expect(processesWithMarker(marker).length).toBeGreaterThan(0); // the bomb was still running
    } finally {
      clearInterval(sampler);
    }
    const r = await bomb; // run() asserts that nothing with the marker survives
    expect(r.outcome).toEqual({ kind: 'timeout', limit: 'wall' });
    // 32 program processes + bwrap outside, bwrap's PID 1 and the supervisor.
    expect(peak).toBeLessThanOrEqual(32 + 3);
  });

  it('several sandboxes run concurrently', async () => {
    const rs = await Promise.all(Array.from({ length: 6 }, () => run('hello')));
    for (const r of rs) {
      expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
      expect(r.out).toBe('Hello, sandbox!\n');
    }
  });
});

describe('isolation', () => {
  it('a daemon (double fork + setsid) does not survive the run', async () => {
    // A minute's wall limit: a run held until the daemon's end would come back as a timeout.
    const r = await run('daemon', [], { limits: { ...FAST, wallMs: 60_000 } });
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r.out).toBe('daemon started\n');
  });

  it('writes outside dir (/tmp, /var/tmp, /dev/shm, project dir, /root) do not reach the host', async () => {
    const m = randomBytes(6).toString('hex');
    const targets = [
      `/tmp/x-${m}`,
      `/var/tmp/x-${m}`,
      `/dev/shm/x-${m}`,
      path.join(PROJECT_ROOT, `escape-test-${m}`),
      `/root/escape-${m}`,
      `/etc/escape-${m}`,
      `/usr/escape-${m}`,
    ];
    const literal = ['/tmp/x', path.join(PROJECT_ROOT, 'escape-test')].filter((p) => !fs.existsSync(p));
    const r = await run('write_files', [...targets, ...literal]);
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    for (const p of [...targets, ...literal]) expect(fs.existsSync(p), p).toBe(false);
    // Writes to the private tmpfs succeed inside but vanish; the rest are refused outright.
    const lines = r.out.trim().split('\n');
    expect(lines.filter((l) => l.endsWith(': ok')).map((l) => l.split(':')[0])).toEqual(
      expect.arrayContaining([`/tmp/x-${m}`, `/var/tmp/x-${m}`, `/dev/shm/x-${m}`]),
    );
    // The project and /root are not even visible; system dirs are read-only.
    expect(lines.find((l) => l.startsWith(`${PROJECT_ROOT}/escape-test-`))).toMatch(/No such file or directory/);
    expect(lines.find((l) => l.startsWith('/root/'))).toMatch(/No such file or directory/);
    expect(lines.find((l) => l.startsWith('/etc/'))).toMatch(/Read-only file system/);
    expect(lines.find((l) => l.startsWith('/usr/'))).toMatch(/Read-only file system/);
  });

  it('cannot read a 0600 secret file in a root-owned dir outside dir', async () => {
    const secret = `SECRET-${randomBytes(8).toString('hex')}`;
    // One under the host /tmp (replaced inside) and one under the project (visible, read-only).
    const dirs = [
      fs.mkdtempSync(path.join(os.tmpdir(), 'asmgraph-secret-')),
      fs.mkdtempSync(path.join(FIXTURES, '.secret-')),
    ];
    try {
      const files = dirs.map((d) => {
        const f = path.join(d, 'secret.txt');
        fs.writeFileSync(f, secret, { mode: 0o600 });
        return f;
      });
      // Sanity: the host itself can read them.
      for (const f of files) expect(fs.readFileSync(f, 'utf8')).toBe(secret);
      const r = await run('read_file', files);
      expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
      expect(r.out).not.toContain(secret);
      expect(r.out).not.toContain(": read '");
      expect(r.out).toMatch(/Permission denied|No such file/);
    } finally {
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it("the caller's environment does not leak", async () => {
    const secret = `sk-test-${randomBytes(12).toString('hex')}`;
    process.env.ASMGRAPH_TEST_SECRET_KEY = secret;
    try {
      const r = await run('print_env', [], { env: { EXTRA_VAR: 'extra value' } });
      expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
      expect(r.out).not.toContain(secret);
      expect(r.out).not.toContain('ASMGRAPH_TEST_SECRET_KEY');
      const env = r.out.trim().split('\n').sort();
      expect(env).toEqual(
        [
          'PATH=/usr/bin:/bin',
          'LANG=C.UTF-8',
          'HOME=/box',
          'EXTRA_VAR=extra value',
          `ASMGRAPH_MARKER=${r.marker}`,
          'PWD=/box', // set by bwrap --chdir
        ].sort(),
      );
    } finally {
      delete process.env.ASMGRAPH_TEST_SECRET_KEY;
    }
  });

  it('cannot connect to a TCP server on the host loopback', async () => {
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      // Sanity: the server is reachable from the host.
      await new Promise<void>((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1', () => {
          c.destroy();
          resolve();
        });
        c.on('error', reject);
      });
      await waitFor(() => connections === 1, 'the sanity connection');
      const r = await run('connect', [String(port)]);
      expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
      expect(r.out).toMatch(/^connect failed: /);
      expect(connections).toBe(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('faketime, qemu, abort', () => {
  it('faketime: time(NULL) reports the faked year', async () => {
    const r = await run('print_time', [], { faketime: '2001-02-03 04:05:06' });
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r.out).toBe('2001\n');
    const real = await run('print_time');
    expect(Number(real.out)).toBeGreaterThanOrEqual(2024);
  });

  it('aarch64 hello world under qemu-user', async () => {
    const r = await run('hello_a64', [], { qemu: true });
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r.out).toBe('Hello, sandbox!\n');
    expect(r.err).toBe('');
  });

  it('aarch64 under qemu: same limit semantics (signal, memory, cpu, faketime)', async () => {
    const seg = await run('segv_a64', [], { qemu: true });
    expect(seg.outcome).toEqual({ kind: 'signaled', signal: 'SIGSEGV' });
    const big = await run('alloc_a64', ['10240'], { qemu: true });
    expect(big.outcome).toEqual({ kind: 'exited', code: 2 });
    expect(big.out).toBe('malloc failed\n');
    const ok = await run('alloc_a64', ['300'], { qemu: true });
    expect(ok.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(ok.out).toBe('allocated 300 MiB, checksum 76800\n');
    const t = await run('print_time_a64', [], { qemu: true, faketime: '2001-02-03 04:05:06' });
    expect(t.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(t.out).toBe('2001\n');
    expect(t.err).toBe('');
    const spin = await run('spin_a64', [], { qemu: true, limits: { wallMs: 10_000, cpuSeconds: 1 } });
    expect(spin.outcome).toEqual({ kind: 'timeout', limit: 'cpu' });
  });

  it('readOnlyPaths exposes extra host paths read-only', async () => {
    fs.chmodSync(binDir, 0o755);
    const marker = newMarker();
    const dir = makeRunDir();
    const r = await sandbox.run({
      argv: [path.join(binDir, 'write_files'), path.join(binDir, 'new-file')],
      dir,
      readOnlyPaths: [binDir],
      env: { ASMGRAPH_MARKER: marker },
    });
    expect(processesWithMarker(marker)).toEqual([]);
    expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
    expect(r.stdout.toString()).toBe(`${path.join(binDir, 'new-file')}: Read-only file system\n`);
    expect(fs.existsSync(path.join(binDir, 'new-file'))).toBe(false);
  });

  it('AbortSignal kills the whole tree promptly', async () => {
    const marker = newMarker();
    const ac = new AbortController();
    // Ten minutes of wall limit: only the abort can end this run within the test's time.
    const pending = run('sleeper', [], { marker, signal: ac.signal, limits: { wallMs: 600_000 } });
    // Synchronise on real state: the program itself is running.
    await waitFor(
      () =>
        processesWithMarker(marker).some((pid) => {
          try {
            return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('./sleeper');
          } catch {
            return false;
          }
        }),
      'the sleeper to start',
    );
    ac.abort();
    const r = await pending;
    expect(r.outcome).toEqual({ kind: 'aborted' });
    // Already-aborted signal: nothing is started.
    const r2 = await run('sleeper', [], { signal: AbortSignal.abort() });
    expect(r2.outcome).toEqual({ kind: 'aborted' });
  });
});

describe('tools and identity', () => {
  it('sandboxIdentity lists tool versions and default limits', async () => {
    const id = await sandboxIdentity();
    expect(id['bwrap']).toMatch(/^bubblewrap /);
    expect(id['limits.wallMs']).toBe(5000);
    expect(id['limits.memoryBytes']).toBe(1024 ** 3);
    expect(id['limits.outputBytes']).toBe(1024 ** 2);
    expect(await sandboxIdentity()).toEqual(id);
  });

  it('twenty sandboxed runs in a row give the same output (the overhead itself is measured in the bench)', async () => {
    const dir = makeRunDir('hello');
    for (let i = 0; i < 20; i++) {
      const r = await sandbox.run({ argv: ['./hello'], dir });
      expect(r.outcome).toEqual({ kind: 'exited', code: 0 });
      expect(r.stdout.toString()).toBe('Hello, sandbox!\n');
    }
  });
});
