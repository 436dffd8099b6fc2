/**
 * `dataset`: every validated program becomes one chat example in OpenAI's fine-tuning format
 * (system, user = the request, assistant = the answer template), split into train.jsonl and
 * valid.jsonl deterministically by content hash, de-duplicated, token-counted with the
 * target model's tokenizer, with examples over the per-example limit excluded (OpenAI would
 * silently truncate them — how the seed lost examples). Writes a report of it all.
 */
import { createHash } from 'node:crypto';
import type { ItemView, JsonObject, ReduceInput, ReduceKind, RunContext, TaskResult } from '../src/task-api.js';
import { estimateTrainingCost } from '../src/llm/cost.js';
import { type Curation, parseCuration } from './lib/curation.js';

export const SEED_SYSTEM = [
  'You are a coding assistant AI specialised in writing x86-64 g++ Assembler code.',
  'The Assembler code you provide is for 64-bit Intel Core i7 8th gen CPU and Linux Ubuntu Mate operating system.',
  'The Assembler code is x86-64 and can be further compiled with g++ 13.2.0 (Ubuntu 13.2.0-23ubuntu4).',
  'Before writing the Assembler code in your responses, always write C++ code first, preferably use pure C++.',
].join('\n');

export const CPP_INTRO = "Sure! But let's first write C++ code which works like that:";
export const ASM_INTRO = "Now, let's write the Assembler code:";

/** Per-example training limits (tokens); longer examples are truncated by OpenAI. */
const EXAMPLE_LIMITS: Record<string, number> = {
  'gpt-4o-mini-2024-07-18': 65_536,
  'gpt-4o-2024-08-06': 65_536,
  'gpt-3.5-turbo-0125': 16_385,
  'gpt-3.5-turbo-1106': 16_385,
  'gpt-3.5-turbo-0613': 4_096,
};

interface DatasetParams {
  system?: string;
  template?: 'cpp-then-asm' | 'asm-only';
  validFraction?: number;
  include?: string[];
  model?: string;
  maxTokensPerExample?: number;
  epochs?: number;
}

interface Example {
  key: string;
  split: 'train' | 'valid';
  tokens: number;
  assistantTokens: number;
  line: string;
  variant?: string;
  asmTokens?: number;
  asmTokensRaw?: number;
}

export function normaliseCpp(src: string): string {
  return src
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/[^\n]*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function splitOf(normalised: string, validFraction: number): 'train' | 'valid' {
  const h = createHash('sha256').update(normalised).digest();
  return h.readUInt32BE(0) / 2 ** 32 < validFraction ? 'valid' : 'train';
}

function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : Math.round((s[m - 1] + s[m]) / 2);
}

export const datasetKind: ReduceKind = {
  name: 'dataset',
  version: '3',
  mode: 'reduce',
  pool: 'cpu',
  description: 'train.jsonl / valid.jsonl in chat fine-tuning format, with a report.',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      system: { type: 'string', description: "System message (default: the seed's)." },
      template: { enum: ['cpp-then-asm', 'asm-only'], description: "Assistant answer: the seed's C++ then assembly (default), or assembly only." },
      validFraction: { type: 'number', minimum: 0, maximum: 0.9, description: 'Share of examples in valid.jsonl, chosen by content hash (default 0.1).' },
      include: { type: 'array', items: { type: 'string' }, description: 'Verdicts that reach the dataset (default [ok]).' },
      model: { type: 'string', description: 'Model to fine-tune: tokenizer, per-example limit and price (default gpt-4o-mini-2024-07-18).' },
      maxTokensPerExample: { type: 'integer', minimum: 1, description: "Override the model's per-example limit." },
      epochs: { type: 'integer', minimum: 1, maximum: 50, description: 'Epochs for the cost estimate (default 3).' },
    },
  },
  reads: { from: ['s'], source: ['src', 'prompt'], prompt: ['prompt'], curation: ['src'] },
  outputs: () => [
    { name: 'train', file: 'train.jsonl' },
    { name: 'valid', file: 'valid.jsonl' },
    { name: 'report', file: 'dataset.report.json' },
  ],
  async run(input: ReduceInput, ctx: RunContext): Promise<TaskResult> {
    const p = ctx.params as DatasetParams;
    const system = p.system ?? SEED_SYSTEM;
    const template = p.template ?? 'cpp-then-asm';
    const validFraction = p.validFraction ?? 0.1;
    const include = new Set(p.include ?? ['ok']);
    const model = p.model ?? 'gpt-4o-mini-2024-07-18';
    const limit = p.maxTokensPerExample ?? EXAMPLE_LIMITS[model] ?? 65_536;
    const epochs = p.epochs ?? 3;
    // o200k_base is the gpt-4o family's encoding; loaded only when a dataset is built.
    const { encodeO200k: encode } = await import('./lib/tokens.js');

    const byBase = (views: ItemView[] | undefined) => {
      const m = new Map<string, ItemView>();
      for (const v of views ?? []) m.set(v.base, v);
      return m;
    };
    const sources = byBase(input.inputs.source);
    // `with: {curation: <files target of curation.yaml>}`: a curator's exclusions, as data.
    const curation: Curation = { exclude: new Map() };
    for (const c of input.inputs.curation ?? []) {
      if (!c.files.src) continue;
      const parsed = parseCuration((await ctx.read(c.files.src)).toString('utf8'), `${c.key}.yaml`);
      for (const [k, v] of parsed.exclude) curation.exclude.set(k, v);
    }
    const curated: Record<string, string> = {};
    const tooLongTokens: Record<string, number> = {};
    const prompts = byBase(input.inputs.prompt);
    const verdicts: Record<string, number> = {};
    const excluded: Record<string, string[]> = {};
    const exclude = (reason: string, key: string) => (excluded[reason] ??= []).push(key);
    const seen = new Map<string, string>();
    const examples: Example[] = [];
    let rawAsmTokens = 0;
    let finalAsmTokens = 0;
    const cleanFallbacks: Record<string, number> = {};

    for (const item of input.inputs.from ?? []) {
      const verdict = item.status === 'ok' ? String(item.meta.verdict ?? 'ok') : (item.reason ?? 'rejected');
      verdicts[verdict] = (verdicts[verdict] ?? 0) + 1;
      if (item.status !== 'ok' || !include.has(verdict)) {
        exclude(`verdict:${verdict}`, item.key);
        continue;
      }
      if (curation.exclude.has(item.base)) {
        exclude('curated', item.key);
        curated[item.key] = curation.exclude.get(item.base)!;
        continue;
      }
      const src = sources.get(item.base);
      const promptRef = prompts.get(item.base)?.files.prompt ?? src?.files.prompt;
      if (!src?.files.src) {
        exclude('no-source', item.key);
        continue;
      }
      if (!promptRef) {
        exclude('no-prompt', item.key);
        continue;
      }
      if (!item.files.s) {
        exclude('no-assembly', item.key);
        continue;
      }
      const cpp = (await ctx.read(src.files.src)).toString('utf8');
      const prompt = (await ctx.read(promptRef)).toString('utf8').trim();
      const asm = (await ctx.read(item.files.s)).toString('utf8');
      const norm = normaliseCpp(cpp);
      const dedupeKey = `${JSON.stringify(item.vars)}|${norm}`;
      const first = seen.get(dedupeKey);
      if (first) {
        exclude('duplicate', item.key);
        ctx.log(`${item.key}: duplicate of ${first}`);
        continue;
      }
      seen.set(dedupeKey, item.key);
      const answer = template === 'asm-only' ? asm.trimEnd() : `${CPP_INTRO}\n${cpp.trimEnd()}\n${ASM_INTRO}\n${asm.trimEnd()}`;
      const messages = [
        { role: 'system', content: system },
        { role: 'user', content: prompt },
        { role: 'assistant', content: answer },
      ];
      // Chat overhead as OpenAI counts it: 3 tokens per message and 3 to prime the reply.
      const assistantTokens = encode(answer).length;
      const tokens = 3 + messages.reduce((n, m) => n + 3 + (m.content === answer ? assistantTokens : encode(m.content).length), 0);
      if (tokens > limit) {
        exclude('too-long', item.key);
        tooLongTokens[item.key] = tokens;
        ctx.log(`${item.key}: ${tokens} tokens > ${limit} per-example limit of ${model}`);
        continue;
      }
      if (typeof item.meta.tokensRaw === 'number') rawAsmTokens += item.meta.tokensRaw;
      if (typeof item.meta.tokens === 'number') finalAsmTokens += item.meta.tokens;
      if (typeof item.meta.cleanRejected === 'string') cleanFallbacks[item.meta.cleanRejected] = (cleanFallbacks[item.meta.cleanRejected] ?? 0) + 1;
      examples.push({
        key: item.key, split: splitOf(norm, validFraction), tokens, assistantTokens,
        line: JSON.stringify({ messages }), variant: typeof item.meta.variant === 'string' ? item.meta.variant : undefined,
        asmTokens: typeof item.meta.tokens === 'number' ? item.meta.tokens : undefined,
        asmTokensRaw: typeof item.meta.tokensRaw === 'number' ? item.meta.tokensRaw : undefined,
      });
    }

    const bases = new Set((input.inputs.from ?? []).map((i) => i.base));
    const unknownCurated = [...curation.exclude.keys()].filter((b) => !bases.has(b));
    const train = examples.filter((e) => e.split === 'train');
    const valid = examples.filter((e) => e.split === 'valid');
    const tokenList = examples.map((e) => e.tokens);
    const trainTokens = train.reduce((n, e) => n + e.tokens, 0);
    const cost = estimateTrainingCost({ trainingTokens: trainTokens, epochs, model, examples: train.length });
    const problems: string[] = [];
    if (train.length < 10) problems.push(`only ${train.length} training examples: OpenAI requires at least 10`);
    const report = {
      model, system, template, validFraction, limitPerExample: limit,
      items: (input.inputs.from ?? []).length,
      verdicts,
      excluded: Object.fromEntries(Object.entries(excluded).map(([k, v]) => [k, { count: v.length, items: v }])),
      examples: { total: examples.length, train: train.length, valid: valid.length },
      tokens: {
        total: tokenList.reduce((a, b) => a + b, 0), train: trainTokens,
        min: tokenList.length ? Math.min(...tokenList) : 0, median: median(tokenList), max: tokenList.length ? Math.max(...tokenList) : 0,
        assembly: { raw: rawAsmTokens, final: finalAsmTokens, saved: rawAsmTokens ? Math.round((1 - finalAsmTokens / rawAsmTokens) * 1000) / 10 : 0 },
      },
      cleaning: { fellBackToRaw: cleanFallbacks },
      curated,
      tooLongTokens,
      unknownCurated,
      cost: { epochs, usdPerMillion: cost.usdPerMillion, billedTokens: cost.billedTokens, usd: cost.usd },
      checks: { roles: 'system, user, assistant in every example', problems },
      perExample: examples.map((e) => ({
        key: e.key, split: e.split, tokens: e.tokens, assistantTokens: e.assistantTokens, variant: e.variant ?? null,
        assemblyTokens: e.asmTokens ?? null, assemblyTokensRaw: e.asmTokensRaw ?? null,
      })),
    };
    const verdictText = Object.entries(verdicts).sort((a, b) => b[1] - a[1]).map(([v, n]) => `${v} ${n}`).join(', ');
    const summary = [
      `dataset: ${examples.length} examples (${train.length} train, ${valid.length} valid) from ${report.items} programs; verdicts: ${verdictText || 'none'}`,
      `  tokens per example: min ${report.tokens.min}, median ${report.tokens.median}, max ${report.tokens.max}; train total ${trainTokens}` +
        (rawAsmTokens ? `; assembly ${rawAsmTokens} → ${finalAsmTokens} tokens after cleaning (−${report.tokens.assembly.saved} %)` : ''),
      `  estimated fine-tuning cost: ${cost.usd === null ? 'unknown price' : `$${cost.usd.toFixed(2)}`} (${epochs} epochs × ${trainTokens} tokens${cost.usdPerMillion !== null ? ` × $${cost.usdPerMillion}/1M` : ''}, ${model})`,
      ...Object.entries(excluded).map(([r, keys]) => `  excluded ${r}: ${keys.length} (${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', …' : ''})`),
      ...problems.map((x) => `  warning: ${x}`),
      ...(unknownCurated.length ? [`  warning: curation.yaml names programs that are not in the collection: ${unknownCurated.join(', ')}`] : []),
    ];
    const jsonl = (xs: Example[]) => (xs.length ? `${xs.map((e) => e.line).join('\n')}\n` : '');
    return {
      status: 'ok',
      files: { train: jsonl(train), valid: jsonl(valid), report: `${JSON.stringify(report, null, 2)}\n` },
      meta: {
        examples: examples.length, train: train.length, valid: valid.length, trainTokens,
        costUsd: cost.usd, summary,
      } as JsonObject,
    };
  },
};
