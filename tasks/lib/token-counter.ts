/**
 * o200k token counts from a helper process (see token-worker.ts for why not in this process).
 * One helper per build process, started on first use and never keeping the process alive; if it
 * cannot be started or dies, counting falls back to this process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { countTokens } from './tokens.js';

let worker: ChildProcess | undefined;
let broken = false;
let nextId = 0;
const pending = new Map<number, { text: string; resolve: (n: number) => void }>();

function start(): ChildProcess | undefined {
  if (worker || broken) return worker;
  const script = new URL('./token-worker.js', import.meta.url);
  // Run from the TypeScript sources (unit tests), there is no compiled helper: count here.
  if (!existsSync(script)) {
    broken = true;
    return undefined;
  }
  try {
    const w = fork(script, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'json', execArgv: [] });
    w.on('message', (m: { id: number; count: number }) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      p.resolve(m.count);
      if (!pending.size) idle(w);
    });
    const fail = (why: unknown) => {
      if (!broken) process.stderr.write(`asmgraph: the token-count helper stopped (${why instanceof Error ? why.message : `exit ${String(why)}`}); counting in this process\n`);
      broken = true;
      worker = undefined;
      // Whatever was asked is counted here instead.
      for (const [id, p] of pending) {
        pending.delete(id);
        p.resolve(countTokens(p.text));
      }
    };
    w.on('error', fail);
    w.on('exit', (code, signal) => fail(signal ?? code));
    idle(w);
    worker = w;
  } catch {
    broken = true;
  }
  return worker;
}

/** Nothing pending: the helper must not keep this process alive. */
function idle(w: ChildProcess): void {
  w.unref();
  (w.channel as { unref?: () => void } | undefined)?.unref?.();
}

function busy(w: ChildProcess): void {
  w.ref();
  (w.channel as { ref?: () => void } | undefined)?.ref?.();
}

/** Starts the helper and has it load its tables, without waiting. */
export function warmTokenCounter(): void {
  if (!worker && !broken) void countTokensAsync('');
}

/** The o200k token count of `text`. */
export function countTokensAsync(text: string): Promise<number> {
  const w = start();
  if (!w) return Promise.resolve(countTokens(text));
  return new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, { text, resolve });
    busy(w);
    try {
      w.send({ id, text });
    } catch {
      pending.delete(id);
      resolve(countTokens(text));
    }
  });
}
