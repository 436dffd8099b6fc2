/**
 * o200k_base token counts (the gpt-4o family's encoding). The encoder's tables take ~0.3 s to
 * load, so they are loaded on first use, never at start-up: a no-op build counts no tokens.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let encodeFn: ((text: string) => number[]) | undefined;

export function encodeO200k(text: string): number[] {
  encodeFn ??= (require('gpt-tokenizer/cjs/encoding/o200k_base') as { encode: (t: string) => number[] }).encode;
  return encodeFn(text);
}

export function countTokens(text: string): number {
  return encodeO200k(text).length;
}
