/**
 * The sandbox as the engine and the task kinds see it: one interface, `Sandbox`, that runs a
 * program and owns the folders it needs (its supervisor's place, the folders programs run in).
 * The implementation is `BubblewrapSandbox` (index.ts: bubblewrap + a static supervisor +
 * libfaketime); the engine makes one per build from the project's folders (project.ts) and hands
 * it to every task as `RunContext.sandbox`.
 */
import type { Facts } from '../task-api.js';

export interface SandboxLimits {
  /** default 5000; whole process tree SIGKILLed at expiry */
  wallMs: number;
  /** default 5 (RLIMIT_CPU; SIGXCPU at the limit, SIGKILL one second later) */
  cpuSeconds: number;
  /** default 1 GiB (RLIMIT_AS; qemu-user runs get QEMU_AS_HEADROOM on top for qemu itself) */
  memoryBytes: number;
  /** default 16 MiB (RLIMIT_FSIZE) */
  fileSizeBytes: number;
  /** default 64 (RLIMIT_NOFILE) */
  openFiles: number;
  /** default 32 (RLIMIT_NPROC, counted per sandbox; threads count too) */
  processes: number;
  /** default 1 MiB, cap on stdout and on stderr each */
  outputBytes: number;
  /** default 64 MiB: size of each private tmpfs (/tmp, /var/tmp, /dev/shm) */
  tmpBytes: number;
}

export interface SandboxRequest {
  /** e.g. ['./prog'] relative to dir, or ['qemu-aarch64','-L','/usr/aarch64-linux-gnu','./prog'] */
  argv: string[];
  /** caller-made temp dir; mounted read-write at /box, which is the cwd and HOME */
  dir: string;
  /** default: empty */
  stdin?: string | Uint8Array;
  /** added to a scrubbed base env (PATH=/usr/bin:/bin, LANG=C.UTF-8, HOME=/box) */
  env?: Record<string, string>;
  /** if set, run under libfaketime starting at this absolute time, e.g. '2001-02-03 04:05:06' */
  faketime?: string;
  /**
   * With `faketime`: a stepped clock instead of a ticking one. Every wall-clock or monotonic read
   * (time, gettimeofday, clock_gettime, std::chrono) advances the fake time by `wallSeconds`
   * (libfaketime's `i` mode) and every CPU-clock read (clock(), CLOCK_PROCESS_CPUTIME_ID) by
   * `cpuNanoseconds` (the clock shim), independently of real time: elapsed-time output is then the
   * same on every run at one step and differs at another.
   */
  clockStep?: { wallSeconds: number; cpuNanoseconds: number };
  /**
   * When the program has read all of its stdin and waits for more: `eof` (default) gives it end of
   * input and lets it go on; `stop` ends the run at once (outcome `waiting-for-input`). Either way
   * the result's `inputWait` says so.
   */
  onInputWait?: 'eof' | 'stop';
  limits?: Partial<SandboxLimits>;
  /** abort → kill the whole tree promptly, resolve with outcome 'aborted' */
  signal?: AbortSignal;
  /**
   * Extra host paths to make visible read-only at the same path (e.g. a sysroot outside /usr).
   * Every parent directory must be searchable by others (bwrap resolves them as the sandbox uid).
   */
  readOnlyPaths?: string[];
  /**
   * Advanced/testing: force the host uid the program runs as (only when running as root).
   * Default: a free uid from this process's pool.
   */
  uid?: number;
}

export type SandboxOutcome =
  | { kind: 'exited'; code: number }
  | { kind: 'signaled'; signal: string }
  | { kind: 'timeout'; limit: 'wall' | 'cpu' }
  | { kind: 'output-too-large'; stream: 'stdout' | 'stderr' }
  /** Only with `onInputWait: 'stop'`: it read all its input and blocked reading more. */
  | { kind: 'waiting-for-input' }
  | { kind: 'aborted' };

export interface SandboxResult {
  outcome: SandboxOutcome;
  stdout: Buffer;
  stderr: Buffer;
  wallMs: number;
  /** CPU time (user+sys) of the program process as reported by the supervisor, if known. */
  cpuMs?: number;
  /**
   * Set when the program read all of its stdin and then blocked reading more (observed by the
   * supervisor: the stdin pipe empty and a thread in read(0)): how many bytes it had read and how
   * many it had written to stdout by then (`stdout.subarray(0, stdoutBytes)` is what it printed
   * before it waited).
   */
  inputWait?: { consumed: number; stdoutBytes: number };
}


/** A folder for one run, made by `Sandbox.box`. */
export interface SandboxBox {
  /** Empty, reachable by the sandbox's uid; pass it as `SandboxRequest.dir`. */
  dir: string;
  /** Removes the folder if the sandbox made it (a fallback folder is the caller's to remove). */
  release(): Promise<void>;
}

export interface Sandbox {
  /**
   * What enters cache keys: the mechanism and its protocol, the tools' versions, the default
   * limits. Never the folders: moving the helper does not change what a program does.
   */
  identity(facts?: Facts): Promise<Record<string, string | number>>;
  /** Runs one program with its work folder mounted at /box; resolves when no process of it is left. */
  run(req: SandboxRequest): Promise<SandboxResult>;
  /**
   * A fresh folder for one run. The sandbox's uid must reach it: when the caller's folders are
   * not reachable (a project under a 0700 home, as root), the sandbox makes one under its own box
   * parent; otherwise it uses `fallback()` (a task's temp folder).
   */
  box(fallback: () => Promise<string>): Promise<SandboxBox>;
  /** Throws a clear Error naming the Debian package if a needed tool is missing; runs a smoke test. */
  check(): Promise<void>;
}
