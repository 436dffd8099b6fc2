/**
 * Token counts (o200k, or a model's own tokenizer) from a helper process (see token-worker.ts for
 * why not in this process).
 * One helper per build process, started on first use and never keeping the process alive; if it
 * cannot be started or dies, counting falls back to this process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import type { TokenizerName } from '../../src/llm/model-limits.js';
import { countTokens } from './tokens.js';

let worker: ChildProcess | undefined;
let broken = false;
let nextId = 0;
const pending = new Map<number, { text: string; tokenizer: TokenizerName; resolve: (n: number) => void }>();

/** Counting in this process: the helper could not start, or stopped. */
async function countHere(text: string, tokenizer: TokenizerName): Promise<number> {
  if (tokenizer === 'o200k') return countTokens(text);
  const { tokenCounter } = await import('./model-tokens.js');
  return (await tokenCounter(tokenizer))(text);
}

function start(): ChildProcess | undefined {
  if (worker || broken) return worker;
  // tsc's output of token-worker.ts, also when this module runs from the bundle (dist/bundle/).
  const script = path.join(PACKAGE_ROOT, 'dist', 'tasks', 'lib', 'token-worker.js');
  // Run from the TypeScript sources (unit tests), a compiled helper may be stale: count here.
  const fromSources = import.meta.url.endsWith('.ts');
  if (fromSources || !existsSync(script)) {
    if (!fromSources) process.stderr.write(`asmgraph: the token-count helper ${script} is missing (run npm run build); counting in this process\n`);
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
        void countHere(p.text, p.tokenizer).then(p.resolve);
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

/** The token count of `text` with `tokenizer` (default o200k). */
export function countTokensAsync(text: string, tokenizer: TokenizerName = 'o200k'): Promise<number> {
  const w = start();
  if (!w) return countHere(text, tokenizer);
  return new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, { text, tokenizer, resolve });
    busy(w);
    try {
      w.send(tokenizer === 'o200k' ? { id, text } : { id, text, tokenizer });
    } catch {
      pending.delete(id);
      void countHere(text, tokenizer).then(resolve);
    }
  });
}

const once = new Map<string, Promise<number>>();

/**
 * As `countTokensAsync`, remembered for the life of the process by the text's hash: the gates of
 * a raw and a cleaned fallback (compile's `unlessFits`) count the same preferred variant.
 */
export function countTokensOnce(text: string, tokenizer: TokenizerName): Promise<number> {
  const key = `${tokenizer} ${createHash('sha256').update(text).digest('base64url')}`;
  let p = once.get(key);
  if (!p) {
    p = countTokensAsync(text, tokenizer);
    once.set(key, p);
  }
  return p;
}
