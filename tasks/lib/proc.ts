/**
 * Minimal subprocess runner shared by the toolchain helpers.
 *
 * - argv arrays only, never a shell;
 * - every child runs in its own process group, so aborting (signal) or a timeout kills the whole
 *   tree with SIGKILL (the g++ driver does not forward signals to cc1plus/as/ld);
 * - stdout/stderr are captured up to a cap; stdin is a given buffer or /dev/null.
 */
import { spawn } from 'node:child_process';

export interface RunOptions {
  cwd?: string;
  /** Bytes for stdin; stdin is /dev/null when omitted. */
  input?: string | Uint8Array;
  signal?: AbortSignal;
  /** Wall-clock limit; the process group is killed with SIGKILL when it is exceeded. */
  timeoutMs?: number;
  /** Cap per captured stream (bytes); output beyond it is dropped and `truncated` is set. */
  maxOutput?: number;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  /** Exit code, or null when the process was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  truncated: boolean;
  durationMs: number;
}

/** Thrown when the executable itself cannot be started (ENOENT, EACCES). */
export class SpawnError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly errno: string,
  ) {
    super(message);
    this.name = 'SpawnError';
  }
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error('The operation was aborted');
  err.name = 'AbortError';
  return err;
}

const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;

export function runProcess(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('runProcess: empty argv');
  if (opts.signal?.aborted) return Promise.reject(abortError(opts.signal));
  const maxOutput = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
  const started = performance.now();

  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let truncated = false;
    let timedOut = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;

    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    // On abort: kill the group, then reject once the child has exited, so that the caller's
    // cleanup (removing the work dir) does not race with a dying compiler.
    let exited = false;
    const onAbort = () => {
      killGroup();
      if (exited) finish(() => reject(abortError(opts.signal!)));
      else child.once('exit', () => finish(() => reject(abortError(opts.signal!))));
    };
    child.once('exit', () => {
      exited = true;
    });
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      f();
    };

    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, opts.timeoutMs);
    }

    child.stdout!.on('data', (b: Buffer) => {
      if (outLen + b.length > maxOutput) {
        truncated = true;
        b = b.subarray(0, Math.max(0, maxOutput - outLen));
      }
      outLen += b.length;
      if (b.length) out.push(b);
    });
    child.stderr!.on('data', (b: Buffer) => {
      if (errLen + b.length > maxOutput) {
        truncated = true;
        b = b.subarray(0, Math.max(0, maxOutput - errLen));
      }
      errLen += b.length;
      if (b.length) err.push(b);
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {
        /* EPIPE when the child does not read its input */
      });
      child.stdin.end(opts.input);
    }

    child.on('error', (e: NodeJS.ErrnoException) => {
      finish(() => {
        if (e.code === 'ENOENT' || e.code === 'EACCES') {
          reject(new SpawnError(`cannot run ${cmd}: ${e.code}`, cmd, e.code));
        } else reject(e);
      });
    });
    child.on('close', (code, sig) => {
      finish(() =>
        resolve({
          code,
          signal: sig,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          timedOut,
          truncated,
          durationMs: performance.now() - started,
        }),
      );
    });
  });
}
