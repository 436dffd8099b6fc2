/**
 * `BubblewrapSandbox`, the implementation of the `Sandbox` interface (sandbox.ts) that every
 * program run goes through: compiled reference programs and untrusted model-written assembly.
 *
 * Mechanism: bubblewrap (not a util-linux unshare/prlimit chain). Why:
 *  - bwrap builds the whole mount namespace natively in one exec: an empty tmpfs root, the host's
 *    system dirs bound read-only (every submount too), private size-capped tmpfs on /tmp,
 *    /var/tmp, /dev/shm and /run, a minimal /dev, a /proc for the new PID namespace, and the work
 *    dir read-write at a fixed path. util-linux can only do that with a shell script running
 *    `mount` inside the namespaces (an extra shell per run, fragile remount-ro of submounts).
 *  - the same exec gives user/net/pid/ipc/uts/cgroup namespaces, --disable-userns (no nested user
 *    namespaces), --new-session, --die-with-parent, env clearing, no capabilities, no_new_privs,
 *    and it closes the fds used for --bind-fd, so no host directory fd reaches the program.
 *  - bwrap cannot set rlimits and folds "killed by signal N" into exit code 128+N, so a tiny static
 *    C supervisor (helper.ts, bound at /.asmgraph-exec) runs inside: it sets the rlimits, execs the
 *    program, and reports the exact wait status and CPU time on a pipe.
 *
 * Command chain (no shell; as root, Node's spawn does setgroups([]) + setgid + setuid before the
 * exec, exactly what `setpriv --reuid U --regid U --clear-groups` would do, minus one exec):
 *
 *   [uid=gid=61000+k, no supplementary groups]
 *   bwrap --unshare-all --unshare-user --disable-userns --die-with-parent --new-session
 *         --hostname asmgraph-sandbox
 *         --clearenv --setenv PATH /usr/bin:/bin --setenv LANG C.UTF-8 --setenv HOME /box
 *         [--setenv K V ...] [--setenv LD_PRELOAD .../libfaketime.so.1 --setenv FAKETIME @T]
 *         --symlink usr/bin /bin --ro-bind /etc /etc --symlink usr/lib /lib ... --ro-bind /usr /usr
 *         --ro-bind /var /var --ro-bind /sys /sys --ro-bind /opt /opt          (SYSTEM_ROOT_ENTRIES)
 *         --proc /proc --dev /dev --size 64M --tmpfs /dev/shm --size 64M --tmpfs /tmp
 *         --size 64M --tmpfs /var/tmp --size 1M --tmpfs /run  [--ro-bind P P ...readOnlyPaths]
 *         --bind-fd 3 /box --ro-bind-fd 4 /.asmgraph-exec --chdir /box --info-fd 6
 *         -- /.asmgraph-exec 5 CPU_S AS_BYTES FSIZE NOFILE NPROC -- ARGV...
 *   fds: 0-2 pipes, 3 = the work dir, 4 = the supervisor binary, 5 = status pipe, 6 = bwrap info.
 *
 * Properties:
 *  - uid: as root we drop to an unprivileged uid *before* bwrap creates the user namespace, so
 *    RLIMIT_NPROC is enforced (it is not for root). Each concurrent run in this process gets its own
 *    uid (pool 61000..61999). In addition, RLIMIT_NPROC is set by the supervisor *inside* the new
 *    user namespace; since Linux 5.14 the count is then per (user namespace, uid), so even two runs
 *    sharing a host uid (e.g. from two Node processes) cannot starve each other (tested: a hello
 *    on the fork bomb's own uid succeeds while the bomb is saturated). Not root: bwrap's
 *    unprivileged user namespace with the caller's uid.
 *  - network: own network namespace with only a down loopback; abstract unix sockets are per
 *    netns, and /run, /tmp are replaced, hiding the usual filesystem sockets.
 *  - PID namespace: when the supervisor exits, bwrap's PID 1 exits and the kernel kills whatever
 *    is left (daemons). On wall timeout / abort / output overflow we SIGKILL that PID 1 (host pid
 *    from --info-fd); bwrap outside only exits once the namespace is empty, so when the promise
 *    resolves no sandboxed process is alive. If Node dies, --die-with-parent kills the sandbox.
 *  - filesystem: only system dirs are visible (read-only); /home, /root, the project (/work), /mnt
 *    ... are absent, so world-readable secrets there cannot be echoed into program output.
 *  - dir: mounted at the fixed path /box (cwd and HOME), so program output never depends on the
 *    caller's temp dir name (content-addressed caching). Chowned to the sandbox uid before and back
 *    to the caller after the run (lchown, never following links). Its ancestors must be
 *    searchable by others (checked, clear error) because bwrap resolves it as the sandbox uid.
 *  - memory: RLIMIT_AS. qemu-user works under RLIMIT_AS (measured: hello runs at 256 MiB), but
 *    qemu itself uses ~270 MiB of address space, so runs whose argv[0] is qemu-* get
 *    QEMU_AS_HEADROOM on top; the guest then gets about the same usable memory as a native run
 *    (tested: 10 GiB fails and 300 MiB works for both).
 *  - CPU: RLIMIT_CPU soft = cpuSeconds (SIGXCPU → timeout cpu), hard = +1 s (SIGKILL, classified
 *    as timeout cpu when the reported CPU time is at the budget). Under qemu SIGXCPU reaches qemu,
 *    which dies of it the same way.
 *  - faketime: LD_PRELOAD=libfaketime + FAKETIME="@<time>" (start at that time and tick on, like
 *    the faketime(1) CLI, without its extra exec). For qemu the host-side qemu is faked (it turns
 *    the guest's time syscalls into faked libc calls) and QEMU_UNSET_ENV keeps the x86-64
 *    LD_PRELOAD away from the guest's loader.
 *  - not covered: no seccomp filter; disk usage inside /box is bounded per file (RLIMIT_FSIZE)
 *    but not in total (no quota); the kernel is shared (a kernel exploit escapes any of this).
 *
 * Overhead (this machine: 2 cores shared with other workers, so noisy; hello-world C binary,
 * median of 20 sequential runs, Node spawn → close):
 *    light load:  plain spawn 2.1-4.5 ms, sandboxed 12.4-22.4 ms → ~10-20 ms per run
 *                 qemu-aarch64 hello (C++): plain 43-51 ms, sandboxed 73-80 ms → ~30 ms
 *    load avg 13: plain 2.2-6.6 ms, sandboxed 34-44 ms; qemu plain 88-103 ms, sandboxed 136-164 ms
 *  bwrap with only a user namespace and `--ro-bind / /` already costs ~7-10 ms here; /dev setup
 *  ~5 ms; the supervisor (static, one extra fork+exec) ~1-4 ms; chown of a small dir < 1 ms.
 *  The "overhead" test in test/sandbox.test.ts re-measures and prints it.
 */
import type { Facts } from '../task-api.js';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chownTree } from './ownership.js';
import { ensureHelper, HELPER_HASH } from './helper.js';
import type { Sandbox, SandboxBox, SandboxLimits, SandboxOutcome, SandboxRequest, SandboxResult } from './sandbox.js';
import { CLOCK_SHIM_HASH, ensureClockShim } from './clock-shim.js';
import {
  BWRAP,
  CC,
  LIBFAKETIME,
  fileHash,
  findExecutable,
  findLibfaketime,
  missingToolError,
  qemuTool,
  toolVersion,
} from './tools.js';

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  wallMs: 5000,
  cpuSeconds: 5,
  memoryBytes: 1024 * 1024 * 1024,
  fileSizeBytes: 16 * 1024 * 1024,
  openFiles: 64,
  processes: 32,
  outputBytes: 1024 * 1024,
  tmpBytes: 64 * 1024 * 1024,
});

/** Extra address space for qemu-user itself (it maps ~270 MiB: code buffer, guest layout). */
export const QEMU_AS_HEADROOM = 384 * 1024 * 1024;
/** Where the work dir appears inside the sandbox. */
export const SANDBOX_DIR = '/box';
const HELPER_IN_SANDBOX = '/.asmgraph-exec';
/** Bump when the sandbox's observable semantics change (enters cache keys). */
const SANDBOX_PROTOCOL = 2;
const CLOCK_SHIM_IN_SANDBOX = '/.asmgraph-clock.so';

/** ASMGRAPH_SANDBOX_UID_BASE moves the pool (e.g. to keep two test suites' sandboxes apart). */
const UID_BASE = Number(process.env.ASMGRAPH_SANDBOX_UID_BASE) || 61000;
const UID_COUNT = 1000;

// ---------------------------------------------------------------------------------------------
// uid pool

const uidsInUse = new Set<number>();
/** Start at a per-process offset so two Node processes rarely share a uid (harmless if they do). */
const uidStart = (process.pid * 7919) % UID_COUNT;

function acquireUid(): number {
  for (let i = 0; i < UID_COUNT; i++) {
    const uid = UID_BASE + ((uidStart + i) % UID_COUNT);
    if (!uidsInUse.has(uid)) {
      uidsInUse.add(uid);
      return uid;
    }
  }
  throw new Error('sandbox: no free sandbox uid (more than 1000 concurrent runs?)');
}

// ---------------------------------------------------------------------------------------------
// tools

/** What a bubblewrap sandbox found or built on first use. */
export interface SandboxTools {
  bwrap: string;
  helper: string;
  cc: string;
  libfaketime: string | undefined;
  rootArgs: string[];
}

/** Finds the tools and builds the supervisor into `helperDir` (see helperCacheDir). */
async function findTools(helperDir: string | undefined): Promise<SandboxTools> {
  const bwrap = findExecutable('bwrap');
  if (!bwrap) throw missingToolError(BWRAP);
  const cc = findExecutable('gcc') ?? findExecutable('cc');
  if (!cc) throw missingToolError(CC, 'needed once to build the sandbox supervisor');
  const helper = await ensureHelper(cc, helperDir);
  return { bwrap, helper, cc, libfaketime: findLibfaketime(), rootArgs: rootFsArgs() };
}

/** Where a bubblewrap sandbox keeps things. */
export interface BubblewrapFolders {
  /**
   * Where the supervisor and the clock shim are compiled and kept (a project's `cache/sandbox`,
   * when the sandbox uid can reach it). Default: a private folder under the system temp dir.
   */
  helperDir?: string;
  /**
   * Where `box()` makes run folders, when the caller's own temp folders cannot be reached by the
   * sandbox uid (made 0711 on first use). Default: none, `box()` uses the caller's folder.
   */
  boxParent?: string;
}

/**
 * The sandbox: bubblewrap + the supervisor + libfaketime (see the top of this file). Everything
 * it finds or builds once (the tools, the supervisor, the clock shim, the box parent) is held by
 * the instance, so two sandboxes with different folders never share state.
 */
export class BubblewrapSandbox implements Sandbox {
  private readonly made = new Map<string, Promise<unknown>>();

  constructor(private readonly folders: BubblewrapFolders = {}) {}

  /** `make()` once per sandbox; a failure is not remembered (installing the tool fixes it). */
  private once<T>(what: string, make: () => Promise<T>): Promise<T> {
    let p = this.made.get(what) as Promise<T> | undefined;
    if (!p) {
      p = make().catch((e: unknown) => {
        this.made.delete(what);
        throw e;
      });
      this.made.set(what, p);
    }
    return p;
  }

  identity(facts?: Facts): Promise<Record<string, string | number>> {
    return sandboxIdentity(facts);
  }

  run(req: SandboxRequest): Promise<SandboxResult> {
    return runSandboxed(this, req);
  }

  async box(fallback: () => Promise<string>): Promise<SandboxBox> {
    const parentDir = this.folders.boxParent;
    if (parentDir === undefined) return { dir: await fallback(), release: async () => undefined };
    const parent = await this.once('box parent', async () => {
      await fsp.mkdir(parentDir, { recursive: true, mode: 0o711 });
      await fsp.chmod(parentDir, 0o711);
      return parentDir;
    });
    const dir = await fsp.mkdtemp(path.join(parent, 'box-'));
    return { dir, release: () => fsp.rm(dir, { recursive: true, force: true }) };
  }

  async check(): Promise<void> {
    await this.tools();
    if (!findLibfaketime()) throw missingToolError(LIBFAKETIME, 'needed for the faketime option');
    // Smoke test: catches kernels/containers without unprivileged user namespaces.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asmgraph-sbcheck-'));
    try {
      const r = await this.run({ argv: ['/bin/true'], dir, limits: { wallMs: 10_000 } });
      if (r.outcome.kind !== 'exited' || r.outcome.code !== 0) {
        throw new Error(`sandbox: smoke test failed (${JSON.stringify(r.outcome)}): ${r.stderr.toString()}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The tools, once per sandbox. */
  tools(): Promise<SandboxTools> {
    return this.once('tools', () => findTools(this.folders.helperDir));
  }

  /** The clock shim's path, built beside the supervisor once per sandbox. */
  clockShim(cc: string): Promise<string> {
    return this.once('clock shim', () => ensureClockShim(cc, this.folders.helperDir));
  }
}

/**
 * Host top-level entries visible (read-only) inside: the system, not user data. /home, /root,
 * /work, /mnt, /srv, /boot, ... are simply absent, so world-readable files there (a project's
 * .env, say) cannot be read and echoed into program output. Callers can add more read-only paths
 * per run (SandboxRequest.readOnlyPaths).
 */
const SYSTEM_ROOT_ENTRIES = ['bin', 'etc', 'lib', 'lib32', 'lib64', 'libx32', 'opt', 'sbin', 'sys', 'usr', 'var'];

const PROTECTED_ROOT_ENTRIES = new Set([...SYSTEM_ROOT_ENTRIES, 'boot', 'dev', 'proc', 'root', 'run']);

/**
 * The filesystem: bwrap's new root is an empty tmpfs (so /box and the supervisor can be mounted
 * at fixed paths); the system entries of the host / are bound read-only (recursively, every
 * submount read-only too) or re-created as the same symlink (merged /usr); /proc, /dev, /tmp,
 * /run, /var/tmp and /dev/shm are fresh and private.
 */
function rootFsArgs(): string[] {
  const args: string[] = [];
  for (const name of SYSTEM_ROOT_ENTRIES) {
    const p = `/${name}`;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push('--symlink', fs.readlinkSync(p), p);
    else if (st.isDirectory()) args.push('--ro-bind', p, p);
  }
  return args;
}

/** Fresh, private, size-capped instances (tmpfs is RAM: an uncapped one could eat the host's). */
function freshMountArgs(tmpBytes: number): string[] {
  const size = String(Math.floor(tmpBytes));
  return [
    '--proc', '/proc',
    '--dev', '/dev',
    '--size', size, '--tmpfs', '/dev/shm',
    '--size', size, '--tmpfs', '/tmp',
    '--size', size, '--tmpfs', '/var/tmp',
    '--size', String(1024 * 1024), '--tmpfs', '/run',
  ];
}

let identityPromise: Promise<Record<string, string | number>> | undefined;

/**
 * What enters cache keys: tool versions and the effective default limits (`Sandbox.identity()` of
 * every bubblewrap sandbox: it does not depend on its folders). Remembered for the process, as the
 * tools' versions are (tools.ts): facts of the host, not state.
 */
export function sandboxIdentity(facts?: Facts): Promise<Record<string, string | number>> {
  identityPromise ??= (async () => {
    const [bwrap, qemuA64, qemuRv64] = await Promise.all([
      toolVersion('bwrap', facts),
      toolVersion('qemu-aarch64', facts),
      toolVersion('qemu-riscv64', facts),
    ]);
    const id: Record<string, string | number> = {
      'sandbox.mechanism': 'bwrap+sandbox-exec',
      'sandbox.protocol': SANDBOX_PROTOCOL,
      'sandbox.helper': HELPER_HASH,
      'sandbox.clockShim': CLOCK_SHIM_HASH,
      bwrap,
      libfaketime: fileHash(findLibfaketime()),
      'qemu-aarch64': qemuA64,
      'qemu-riscv64': qemuRv64,
      'qemu.asHeadroom': QEMU_AS_HEADROOM,
    };
    for (const [k, v] of Object.entries(DEFAULT_LIMITS)) id[`limits.${k}`] = v;
    return id;
  })();
  return identityPromise;
}

// ---------------------------------------------------------------------------------------------
// running

/** Signal number → name; the first (canonical) name wins over aliases (SIGABRT, not SIGIOT). */
const SIGNAL_NAMES: Record<number, string> = {};
for (const [name, num] of Object.entries(os.constants.signals)) SIGNAL_NAMES[num] ??= name;

function signalName(n: number): string {
  return SIGNAL_NAMES[n] ?? `SIG${n}`;
}

type KillReason =
  | { kind: 'aborted' }
  | { kind: 'wall' }
  | { kind: 'input' }
  | { kind: 'output'; stream: 'stdout' | 'stderr' };

/**
 * bwrap resolves bind sources as the (unprivileged) sandbox uid, even with --bind-fd, so every
 * ancestor must be searchable by others. Fail early with a useful message instead of bwrap's.
 */
function assertSearchableByOthers(p: string, what: string): void {
  for (let d = path.dirname(p); ; d = path.dirname(d)) {
    const mode = fs.statSync(d).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `sandbox: ${what} ${p} is not reachable by the sandbox uid: ${d} is not searchable by others ` +
          `(mode ${(mode & 0o777).toString(8)}); use a directory under ${os.tmpdir()}`,
      );
    }
    if (d === '/') return;
  }
}

function isQemu(argv0: string): boolean {
  return /^qemu-[a-z0-9_]+(-static)?$/.test(path.basename(argv0));
}

function processGone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitGone(pid: number, maxMs: number): Promise<void> {
  const t0 = Date.now();
  let delay = 0.5;
  while (!processGone(pid) && Date.now() - t0 < maxMs) {
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 20);
  }
}

async function runSandboxed(sb: BubblewrapSandbox, req: SandboxRequest): Promise<SandboxResult> {
  const limits: SandboxLimits = { ...DEFAULT_LIMITS, ...(req.limits ?? {}) };
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`sandbox: limit ${k} must be a positive number, got ${v}`);
  }
  if (req.argv.length === 0) throw new Error('sandbox: empty argv');
  const t0 = performance.now();
  if (req.signal?.aborted) {
    return { outcome: { kind: 'aborted' }, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), wallMs: 0 };
  }
  const t = await sb.tools();
  const argv0 = req.argv[0]!;
  if (isQemu(argv0) && !findExecutable(argv0)) throw missingToolError(qemuTool(path.basename(argv0)));
  if (req.faketime !== undefined && !t.libfaketime) throw missingToolError(LIBFAKETIME);

  const dir = fs.realpathSync(req.dir);
  if (!fs.statSync(dir).isDirectory()) throw new Error(`sandbox: ${dir} is not a directory`);

  const asRoot = process.getuid?.() === 0;
  if (asRoot) assertSearchableByOthers(dir, 'dir');
  // The dir is chowned recursively: refuse anything that looks like a system location.
  const top = dir.split('/')[1] ?? '';
  if (dir === '/' || (PROTECTED_ROOT_ENTRIES.has(top) && !dir.startsWith('/var/tmp/'))) {
    throw new Error(`sandbox: refusing to use ${dir} as the work dir (a system location)`);
  }
  const callerUid = process.getuid?.() ?? 0;
  const callerGid = process.getgid?.() ?? 0;

  // --- environment
  const env: Record<string, string> = {
    PATH: '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    HOME: SANDBOX_DIR,
    ...(req.env ?? {}),
  };
  if (req.clockStep && req.faketime === undefined) throw new Error('sandbox: clockStep needs faketime');
  const shim = req.clockStep ? await sb.clockShim(t.cc) : undefined;
  if (req.faketime !== undefined) {
    env.LD_PRELOAD = shim ? `${CLOCK_SHIM_IN_SANDBOX}:${t.libfaketime!}` : t.libfaketime!;
    // The time goes into $HOME/.faketimerc (HOME is the work dir), not into the environment:
    // runs at different clocks then see identical environments.
    const at = req.faketime.startsWith('@') ? req.faketime : `@${req.faketime}`;
    const step = req.clockStep ? ` i${stepText(req.clockStep.wallSeconds)}` : '';
    fs.writeFileSync(path.join(req.dir, '.faketimerc'), `${at}${step}\n`);
    if (req.clockStep) fs.writeFileSync(path.join(req.dir, '.asmgraph-clockrc'), `${Math.max(1, Math.round(req.clockStep.cpuNanoseconds))}\n`);
    if (isQemu(argv0)) env.QEMU_UNSET_ENV = 'LD_PRELOAD';
  }
  const envArgs: string[] = ['--clearenv'];
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`sandbox: bad env name ${JSON.stringify(k)}`);
    envArgs.push('--setenv', k, v);
  }

  const extraBinds: string[] = [];
  for (const p of req.readOnlyPaths ?? []) {
    if (!path.isAbsolute(p)) throw new Error(`sandbox: readOnlyPaths must be absolute: ${p}`);
    const norm = path.resolve(p);
    if (norm === SANDBOX_DIR || norm.startsWith(`${SANDBOX_DIR}/`) || norm === HELPER_IN_SANDBOX) {
      throw new Error(`sandbox: readOnlyPaths may not cover ${norm}`);
    }
    if (asRoot) assertSearchableByOthers(norm, 'readOnlyPaths entry');
    extraBinds.push('--ro-bind', norm, norm);
  }

  const asBytes = limits.memoryBytes + (isQemu(argv0) ? QEMU_AS_HEADROOM : 0);
  const args = [
    '--unshare-all',
    '--unshare-user',
    '--disable-userns',
    '--die-with-parent',
    '--new-session',
    '--hostname',
    'asmgraph-sandbox',
    ...envArgs,
    ...t.rootArgs,
    ...freshMountArgs(limits.tmpBytes),
    ...extraBinds,
    '--bind-fd',
    '3',
    SANDBOX_DIR,
    '--ro-bind-fd',
    '4',
    HELPER_IN_SANDBOX,
    ...(shim ? ['--ro-bind-fd', '7', CLOCK_SHIM_IN_SANDBOX] : []),
    '--chdir',
    SANDBOX_DIR,
    '--info-fd',
    '6',
    '--',
    HELPER_IN_SANDBOX,
    '5',
    String(Math.ceil(limits.cpuSeconds)),
    String(Math.floor(asBytes)),
    String(Math.floor(limits.fileSizeBytes)),
    String(Math.floor(limits.openFiles)),
    String(Math.floor(limits.processes)),
    '--',
    ...req.argv,
  ];

  const pooled = asRoot && req.uid === undefined;
  const uid = asRoot ? (req.uid ?? acquireUid()) : undefined;
  let dirFd: number | undefined;
  let helperFd: number | undefined;
  let shimFd: number | undefined;
  try {
    if (uid !== undefined) await chownTree(dir, uid, uid);
    dirFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    helperFd = fs.openSync(t.helper, fs.constants.O_RDONLY);
    if (shim) shimFd = fs.openSync(shim, fs.constants.O_RDONLY);
    return await execute(t.bwrap, args, {
      uid,
      dirFd,
      helperFd,
      shimFd,
      onInputWait: req.onInputWait ?? 'eof',
      limits,
      stdin: req.stdin,
      signal: req.signal,
      t0,
    });
  } finally {
    if (dirFd !== undefined) fs.closeSync(dirFd);
    if (helperFd !== undefined) fs.closeSync(helperFd);
    if (shimFd !== undefined) fs.closeSync(shimFd);
    if (uid !== undefined) await chownTree(dir, callerUid, callerGid);
    if (pooled && uid !== undefined) uidsInUse.delete(uid);
  }
}

interface ExecOptions {
  uid: number | undefined;
  dirFd: number;
  helperFd: number;
  shimFd: number | undefined;
  onInputWait: 'eof' | 'stop';
  limits: SandboxLimits;
  stdin: string | Uint8Array | undefined;
  signal: AbortSignal | undefined;
  t0: number;
}

function execute(bwrap: string, args: string[], o: ExecOptions): Promise<SandboxResult> {
  return new Promise<SandboxResult>((resolve, reject) => {
    const child = spawn(bwrap, args, {
      env: {},
      stdio: ['pipe', 'pipe', 'pipe', o.dirFd, o.helperFd, 'pipe', 'pipe', ...(o.shimFd !== undefined ? [o.shimFd] : [])],
      ...(o.uid !== undefined ? { uid: o.uid, gid: o.uid } : {}),
    });

    let killReason: KillReason | undefined;
    let pid1: number | undefined; // host pid of bwrap's PID 1 in the sandbox
    let spawnError: Error | undefined;

    const kill = (reason: KillReason): void => {
      killReason ??= reason;
      if (pid1 !== undefined) {
        // Killing the namespace's init makes the kernel kill the rest; bwrap outside then exits.
        try {
          process.kill(pid1, 'SIGKILL');
          return;
        } catch {
          /* already gone: fall through */
        }
      }
      child.kill('SIGKILL'); // --die-with-parent: PID 1 gets SIGKILL via PDEATHSIG
    };

    // --- output capture, capped while reading
    const capture = (stream: 'stdout' | 'stderr') => {
      const chunks: Buffer[] = [];
      let size = 0;
      const readable = stream === 'stdout' ? child.stdout! : child.stderr!;
      readable.on('data', (chunk: Buffer) => {
        const room = o.limits.outputBytes - size;
        if (chunk.length > room) {
          // One byte more than allowed: keep exactly the cap, kill the tree, ignore the rest.
          if (room > 0) chunks.push(chunk.subarray(0, room));
          size += room;
          kill({ kind: 'output', stream });
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      readable.on('error', () => undefined);
      return () => Buffer.concat(chunks, size);
    };
    const getStdout = capture('stdout');
    const getStderr = capture('stderr');

    let statusText = '';
    const extraStdio = child.stdio as unknown as (NodeJS.ReadableStream | null)[];
    const statusStream = extraStdio[5];
    statusStream?.on('data', (c: Buffer) => {
      if (statusText.length < 256) statusText += c.toString('latin1');
      if (o.onInputWait === 'stop' && /^W \d+ \d+\n/.test(statusText)) kill({ kind: 'input' });
    });
    statusStream?.on('error', () => undefined);

    let infoText = '';
    const infoStream = extraStdio[6];
    infoStream?.on('data', (c: Buffer) => {
      if (pid1 !== undefined || infoText.length > 4096) return;
      infoText += c.toString('utf8');
      const m = /"child-pid"\s*:\s*(\d+)/.exec(infoText);
      if (m) pid1 = Number(m[1]);
    });
    infoStream?.on('error', () => undefined);

    child.stdin!.on('error', () => undefined); // EPIPE if the program does not read its input
    child.stdin!.end(o.stdin === undefined ? undefined : typeof o.stdin === 'string' ? o.stdin : Buffer.from(o.stdin));

    const wallTimer = setTimeout(() => kill({ kind: 'wall' }), o.limits.wallMs);
    const onAbort = (): void => kill({ kind: 'aborted' });
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) onAbort();

    child.on('error', (e) => {
      spawnError = e;
      if (child.pid === undefined) {
        // Never started: 'close' may not follow.
        clearTimeout(wallTimer);
        o.signal?.removeEventListener('abort', onAbort);
        reject(new Error(`sandbox: cannot start bwrap: ${e.message}`));
      }
    });

    child.on('close', (code, sig) => {
      clearTimeout(wallTimer);
      o.signal?.removeEventListener('abort', onAbort);
      void (async () => {
        if (spawnError) {
          reject(new Error(`sandbox: cannot start bwrap: ${spawnError.message}`));
          return;
        }
        // bwrap outside exits as soon as its PID 1 *reports* the exit status (an eventfd), which
        // can be before the kernel has finished killing the rest of the namespace. PID 1 turns
        // into a zombie (or vanishes) only after every other process in it is gone: wait for that.
        if (pid1 !== undefined) {
          await waitGone(pid1, 5000);
          if (!processGone(pid1)) {
            try {
              process.kill(pid1, 'SIGKILL');
            } catch {
              /* gone meanwhile */
            }
            await waitGone(pid1, 5000);
            if (!processGone(pid1)) {
              reject(new Error(`sandbox: the sandbox's PID 1 (host pid ${pid1}) did not terminate`));
              return;
            }
          }
        }
        const stdout = getStdout();
        const stderr = getStderr();
        const wallMs = Math.round(performance.now() - o.t0);
        const status = parseStatus(statusText);
        const wait = parseInputWait(statusText);
        const base = {
          stdout, stderr, wallMs,
          ...(status?.cpuMs !== undefined ? { cpuMs: status.cpuMs } : {}),
          ...(wait ? { inputWait: wait } : {}),
        };

        if (killReason) {
          const outcome: SandboxOutcome =
            killReason.kind === 'aborted'
              ? { kind: 'aborted' }
              : killReason.kind === 'wall'
                ? { kind: 'timeout', limit: 'wall' }
                : killReason.kind === 'input'
                  ? { kind: 'waiting-for-input' }
                  : { kind: 'output-too-large', stream: killReason.stream };
          resolve({ outcome, ...base });
          return;
        }
        if (!status && code === 1 && /^bwrap: /m.test(stderr.toString())) {
          reject(new Error(`sandbox: bwrap failed to set up the sandbox: ${stderr.toString().trim()}`));
          return;
        }
        resolve({ outcome: classify(code, sig, status, o.limits), ...base });
      })();
    });
  });
}

interface Status {
  kind: 'X' | 'S' | 'E';
  value: number;
  cpuMs: number;
}

/** The supervisor's "W <bytes read> <stdout bytes>" line, sent when the program waited for input. */
function parseInputWait(text: string): { consumed: number; stdoutBytes: number } | undefined {
  const m = /^W (\d+) (\d+)\n/.exec(text);
  return m ? { consumed: Number(m[1]), stdoutBytes: Number(m[2]) } : undefined;
}

function stepText(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`sandbox: clockStep.wallSeconds must be positive, got ${seconds}`);
  return String(Math.round(seconds * 1e6) / 1e6);
}

function parseStatus(text: string): Status | undefined {
  const m = /^(?:W \d+ \d+\n)?([XSE]) (\d+) (\d+)\n/.exec(text);
  if (!m) return undefined;
  return { kind: m[1] as Status['kind'], value: Number(m[2]), cpuMs: Number(m[3]) };
}

function classify(
  code: number | null,
  sig: NodeJS.Signals | null,
  status: Status | undefined,
  limits: SandboxLimits,
): SandboxOutcome {
  // The supervisor's report is trusted only when it agrees with what bwrap returned, so a program
  // that tampers with it cannot forge a different verdict.
  if (status?.kind === 'X' && code === status.value) return { kind: 'exited', code: status.value };
  if (status?.kind === 'E' && code === 127) return { kind: 'exited', code: 127 };
  if (status?.kind === 'S' && code === 128 + status.value) {
    const name = signalName(status.value);
    if (name === 'SIGXCPU') return { kind: 'timeout', limit: 'cpu' };
    // SIGKILL from inside with ~the CPU budget used = the hard RLIMIT_CPU (SIGXCPU was caught).
    // rusage is tick-sampled and under-reports (qemu: 0.86 s at a 1 s limit), hence 0.8.
    if (name === 'SIGKILL' && status.cpuMs >= limits.cpuSeconds * 800) return { kind: 'timeout', limit: 'cpu' };
    return { kind: 'signaled', signal: name };
  }
  if (sig) return { kind: 'signaled', signal: sig };
  if (code !== null && code > 128 && code < 128 + 65) return { kind: 'signaled', signal: signalName(code - 128) };
  return { kind: 'exited', code: code ?? -1 };
}
