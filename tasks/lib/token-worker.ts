/**
 * Child process that counts tokens for `token-counter.ts`: o200k, and a target model's own
 * tokenizer (Qwen3, Llama 3, cl100k; tasks/lib/model-tokens.ts). The encoders' tables (~70 MB of
 * small objects for o200k, more for the open-weight ones) live here rather than in the build
 * process: a parent holding them forks ~3x slower (measured: spawn() 1.4 ms → 4.0 ms), a C++ build
 * spawns three processes per program, and counting here leaves the build's own thread free to
 * start them. Protocol (IPC messages): { id, text, tokenizer? } → { id, count }. Exits when the
 * parent goes away.
 */
import type { TokenizerName } from '../../src/llm/model-limits.js';
import { tokenCounter } from './model-tokens.js';
import { countTokens } from './tokens.js';

// One message at a time, in order: a tokenizer loads once, before the counts that need it.
let queue: Promise<unknown> = Promise.resolve();
process.on('message', (m: { id: number; text: string; tokenizer?: TokenizerName }) => {
  queue = queue.then(async () => {
    const count = !m.tokenizer || m.tokenizer === 'o200k' ? countTokens(m.text) : (await tokenCounter(m.tokenizer))(m.text);
    process.send?.({ id: m.id, count });
  });
});
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: the build decides what to do, and this helper goes
// when the build does.
process.on('SIGINT', () => {});
