/**
 * `dataset`: every validated program becomes one chat example in OpenAI's fine-tuning format
 * (system, user = the request, assistant = the answer template), split into train.jsonl and
 * valid.jsonl deterministically by content hash, de-duplicated, token-counted with the
 * target model's tokenizer, with examples over the per-example limit excluded (OpenAI would
 * silently truncate them — how the seed lost examples) and those whose answer is over the model's
 * output limit too (`answer-too-long`). When `from` lists several validated targets (variants:
 * -O0, -Os, …) the `policy` picks one per program; the report says which and why not the others.
 * Writes a report of it all (docs/variants.md).
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { ItemView, Json, JsonObject, ReduceInput, ReduceKind, RunContext, TaskResult } from '../src/task-api.js';
import { InfraError } from '../src/task-api.js';
import { listToolchains } from './lib/toolchain.js';
import { estimateTrainingCost } from '../src/llm/cost.js';
import { systemIdentity, fillSystemTemplate, SYSTEM_TEMPLATE, usesPlaceholders } from './lib/system-message.js';
import { limitsFor } from '../src/llm/model-limits.js';
import { chatOverhead, rememberingCounter } from './lib/model-tokens.js';
import { type Curation, parseCuration } from '../src/curation.js';

export const CPP_INTRO = "Sure! But let's first write C++ code which works like that:";
export const ASM_INTRO = "Now, let's write the Assembler code:";

interface DatasetParams {
  system?: string;
  toolchain?: string;
  template?: 'cpp-then-asm' | 'asm-only';
  validFraction?: number;
  include?: string[];
  model?: string;
  maxTokensPerExample?: number;
  maxAnswerTokens?: number;
  epochs?: number;
  policy?: Policy;
}

/**
 * Which variant of a program becomes its example, when `from` lists several validated targets
 * (e.g. -O0 and -Os). Variant names are `<opt>` plus `-clean` for a cleaned file (`O0-clean`,
 * `Os`), and `@<toolchain>` when the targets of `from` were made by more than one toolchain
 * (`O0-clean@gcc11`); `prefer` orders them (default: the order of `from`, cleaned before raw). A
 * `prefer` entry without `@` stands for that variant of every toolchain, in the order of `from`. `fit: model`
 * takes the first that validates and fits both model limits; `fit: none` the first that
 * validates; `shortest` the validated one with the fewest tokens. `overLimit: keep` keeps an
 * example over a limit (flagged in the report) instead of excluding it.
 */
export type Policy = 'shortest' | { prefer?: PreferEntry[]; fit?: 'model' | 'none'; shortest?: boolean; overLimit?: 'exclude' | 'keep' };
/**
 * A variant name, or one with its own answer budget: `{variant: O0-clean, maxAnswerTokens: 8192}`
 * takes that variant only while its answer is within the budget, else the next in the list; if no
 * later variant validates and fits, this one is still taken (the budget is a preference; the
 * model's limits and the dataset's `maxAnswerTokens` stay hard).
 */
export type PreferEntry = string | { variant: string; maxAnswerTokens?: number };

interface Example {
  key: string;
  split: 'train' | 'valid';
  tokens: number;
  assistantTokens: number;
  line: string;
  variant?: string;
  variantName?: string;
  variantReason?: string;
  others?: Record<string, string>;
  flags?: string[];
  asmTokens?: number;
  asmTokensRaw?: number;
  /** The program's test cases as validate ran them (`{name, stdin, expected?}`), for eval. */
  cases?: Json;
  casesFrom?: string;
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

/** A variant name in `policy.prefer`: `O0-clean`, `Os`, `O0-clean@gcc11`. */
const VARIANT_PATTERN = '^O[0-3sg](-clean)?(@[A-Za-z0-9_.+-]+)?$';

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
      system: { type: 'string', description: "System message, a template: {compiler} (the toolchain's `--version` line), {triple}, {os} (default: the seed's wording with the real compiler and OS)." },
      toolchain: { type: 'string', description: 'The toolchain whose compiler the system message names (default x86_64).' },
      template: { enum: ['cpp-then-asm', 'asm-only'], description: "Assistant answer: the seed's C++ then assembly (default), or assembly only." },
      validFraction: { type: 'number', minimum: 0, maximum: 0.9, description: 'Share of examples in valid.jsonl, chosen by content hash (default 0.1).' },
      include: { type: 'array', items: { type: 'string' }, description: 'Verdicts that reach the dataset (default [ok]).' },
      model: { type: 'string', description: 'Model to fine-tune: tokenizer, per-example limit and price (default gpt-4o-mini-2024-07-18).' },
      maxTokensPerExample: { type: 'integer', minimum: 1, description: "Override the model's per-example (training) limit." },
      maxAnswerTokens: { type: 'integer', minimum: 1, description: "Override the model's output limit for the assistant message." },
      policy: {
        description: 'Which variant becomes the example when `from` lists several: `shortest`, or {prefer: [O0-clean, O0, Os-clean], fit: model|none, overLimit: exclude|keep}.',
        oneOf: [
          { const: 'shortest' },
          {
            type: 'object',
            additionalProperties: false,
            properties: {
              prefer: {
                type: 'array',
                minItems: 1,
                description: 'Variant names, best first: O0-clean, Os, … or, for one toolchain only, O0-clean@<toolchain>; an entry {variant, maxAnswerTokens} is passed over for the next while its answer is longer than that.',
                items: {
                  oneOf: [
                    { type: 'string', pattern: VARIANT_PATTERN },
                    {
                      type: 'object',
                      additionalProperties: false,
                      required: ['variant'],
                      properties: {
                        variant: { type: 'string', pattern: VARIANT_PATTERN },
                        maxAnswerTokens: { type: 'integer', minimum: 1, description: 'Take this variant only while its answer is at most this long (else the next that validates and fits; this one if none does).' },
                      },
                    },
                  ],
                },
              },
              fit: { enum: ['model', 'none'], description: "model (default): the first that validates and fits the model's limits; none: the first that validates." },
              shortest: { type: 'boolean', description: 'Take the validated variant with the fewest tokens.' },
              overLimit: { enum: ['exclude', 'keep'], description: 'An example over a limit is excluded (default) or kept and flagged.' },
            },
          },
        ],
      },
      epochs: { type: 'integer', minimum: 1, maximum: 50, description: 'Epochs for the cost estimate (default 3).' },
    },
  },
  reads: { from: ['s', 'cases'], source: ['src', 'prompt'], prompt: ['prompt'], curation: ['src'], ...Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`from${i}`, ['s', 'cases']])) },
  outputs: () => [
    { name: 'train', file: 'train.jsonl' },
    { name: 'valid', file: 'valid.jsonl' },
    { name: 'report', file: 'dataset.report.json' },
  ],
  // The compiler and OS the system message names enter the key: a new compiler, a new message.
  async prepare(ctx) {
    const template = (ctx.params as DatasetParams).system ?? SYSTEM_TEMPLATE;
    if (!usesPlaceholders(template)) return {};
    return systemIdentity(ctx.projectRoot, (ctx.params as DatasetParams).toolchain ?? (await defaultToolchain(ctx.projectRoot)), ctx.facts);
  },
  async run(input: ReduceInput, ctx: RunContext): Promise<TaskResult> {
    const p = ctx.params as DatasetParams;
    const system = fillSystemTemplate(p.system ?? SYSTEM_TEMPLATE, ctx.identity);
    const template = p.template ?? 'cpp-then-asm';
    const validFraction = p.validFraction ?? 0.1;
    const include = new Set(p.include ?? ['ok']);
    const model = p.model ?? 'gpt-4o-mini-2024-07-18';
    const limits = limitsFor(model);
    const limit = p.maxTokensPerExample ?? limits.trainingTokens;
    const answerLimit = p.maxAnswerTokens ?? limits.outputTokens;
    const epochs = p.epochs ?? 3;
    const policy = typeof p.policy === 'string' ? { shortest: true } : (p.policy ?? {});
    const fit = policy.fit ?? 'model';
    const keepOver = policy.overLimit === 'keep';
    // Counts remembered by text hash across runs: an edit recounts (and loads the tokenizer for) only what changed.
    const counter = await rememberingCounter(limits.tokenizer, path.join(await ctx.persistentDir(), `token-counts-${limits.tokenizer}.json`));
    const overhead = chatOverhead(limits.tokenizer);

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
    const programs = new Map<string, JsonObject>();
    const exclude = (reason: string, key: string) => {
      (excluded[reason] ??= []).push(key);
      const entry = programs.get(key);
      if (entry) entry.excludedFor = reason;
    };
    const seen = new Map<string, string>();
    const examples: Example[] = [];
    let rawAsmTokens = 0;
    let finalAsmTokens = 0;
    const cleanFallbacks: Record<string, number> = {};
    const variantsTaken: Record<string, number> = {};
    const flagged: Record<string, string[]> = {};

    // Every input of `from` (one, or several variant targets) grouped by item key, in input order.
    const fromNames = Object.keys(input.inputs).filter((n) => n === 'from' || /^from\d+$/.test(n)).sort((x, y) => Number(x.slice(4) || 0) - Number(y.slice(4) || 0));
    const groups = new Map<string, { view: ItemView; input: number }[]>();
    fromNames.forEach((n, i) => {
      for (const v of input.inputs[n] ?? []) {
        const g = groups.get(v.key) ?? [];
        g.push({ view: v, input: i });
        groups.set(v.key, g);
      }
    });
    // An input's optimisation level, from any item of it that validated (a rejected one carries none).
    const inputOpt = fromNames.map((n) => (input.inputs[n] ?? []).map((v) => v.meta.opt).find((o): o is string => typeof o === 'string'));
    // And its toolchain (validate records it): names carry `@<toolchain>` only when `from` mixes toolchains.
    const inputTc = fromNames.map((n) => (input.inputs[n] ?? []).map((v) => v.meta.toolchain).find((t): t is string => typeof t === 'string'));
    const toolchainsOfFrom = [...new Set(inputTc.filter((t): t is string => !!t))];
    const qualify = toolchainsOfFrom.length > 1;
    interface Variant { base: string; tc?: string; name: string }
    const variantOf = (v: ItemView, i: number): Variant => {
      const opt = typeof v.meta.opt === 'string' ? v.meta.opt : inputOpt[i] ?? (fromNames.length > 1 ? `from${i}` : 'O0');
      const base = v.status === 'ok' && v.meta.variant === 'clean' ? `${opt}-clean` : opt;
      const tc = typeof v.meta.toolchain === 'string' ? v.meta.toolchain : inputTc[i];
      return { base, tc, name: qualify && tc ? `${base}@${tc}` : base };
    };
    const preferred = (policy.prefer ?? []).map((entry) => {
      const e = typeof entry === 'string' ? entry : entry.variant;
      const budget = typeof entry === 'string' ? undefined : entry.maxAnswerTokens;
      const at = e.indexOf('@');
      const parsed: { base: string; tc?: string; budget?: number } = at < 0 ? { base: e, budget } : { base: e.slice(0, at), tc: e.slice(at + 1), budget };
      return parsed;
    });
    const strayTc = preferred.find((e) => e.tc && toolchainsOfFrom.length && !toolchainsOfFrom.includes(e.tc));
    if (strayTc) throw new InfraError(`dataset ${ctx.target}: params.policy.prefer names ${strayTc.base}@${strayTc.tc}, but the targets of \`from\` were made by ${toolchainsOfFrom.join(', ')}`);
    // The system message names the compiler that made the answer: with several toolchains, a
    // variant of another toolchain than the one prepare described gets its own compiler's line.
    const systemTc = qualify ? (p.toolchain ?? (await defaultToolchain(ctx.projectRoot))) : undefined;
    const systemOf = (v: ItemView): string => {
      const tc = v.meta.toolchain;
      if (!qualify || typeof tc !== 'string' || tc === systemTc || typeof v.meta.compiler !== 'string') return system;
      return fillSystemTemplate(p.system ?? SYSTEM_TEMPLATE, { ...ctx.identity, compiler: v.meta.compiler, ...(typeof v.meta.triple === 'string' ? { triple: v.meta.triple } : {}) });
    };
    const rank = (v: Variant, i: number): number => {
      if (!policy.prefer) return i * 2 + (v.base.endsWith('-clean') ? 0 : 1);
      const r = preferred.findIndex((e) => e.base === v.base && (!e.tc || e.tc === v.tc));
      return r < 0 ? Number.POSITIVE_INFINITY : r;
    };

    interface Built { tokens: number; assistantTokens: number; line: string; norm: string; problem?: 'too-long' | 'answer-too-long'; why?: string }
    for (const [key, group] of [...groups.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
      const others: Record<string, string> = {};
      const named = group.map((g) => { const v = variantOf(g.view, g.input); return { ...g, v, name: v.name }; })
        .sort((x, y) => rank(x.v, x.input) - rank(y.v, y.input) || x.input - y.input);
      const twice = named.find((g, i) => named.findIndex((x) => x.name === g.name) !== i);
      if (twice) throw new InfraError(`dataset ${ctx.target}: two targets of \`from\` give ${key} the same variant ${twice.name}: the variants of one dataset must differ in opt, cleaning or toolchain`);
      const first = named[0]!.view;
      const okOnes = named.filter((g) => g.view.status === 'ok' && include.has(String(g.view.meta.verdict ?? 'ok')));
      const verdict = okOnes.length ? String(okOnes[0]!.view.meta.verdict ?? 'ok') : first.status === 'ok' ? String(first.meta.verdict ?? 'ok') : (first.reason ?? 'rejected');
      verdicts[verdict] = (verdicts[verdict] ?? 0) + 1;
      programs.set(key, programEntry(okOnes[0]?.view ?? first, sources.get(first.base), verdict));
      for (const g of named) {
        if (g.view.status !== 'ok') others[g.name] = g.view.reason === 'not-needed' ? `not built: ${g.view.message && !/was rejected: not-needed$/.test(g.view.message) ? g.view.message : 'a preferred variant fits the model (not-needed)'}` : `rejected: ${g.view.reason ?? 'rejected'}`;
        else if (!include.has(String(g.view.meta.verdict ?? 'ok'))) others[g.name] = `verdict ${String(g.view.meta.verdict)} not included`;
        else if (rank(g.v, g.input) === Number.POSITIVE_INFINITY) others[g.name] = 'not in the policy';
      }
      const candidates = okOnes.filter((g) => rank(g.v, g.input) !== Number.POSITIVE_INFINITY);
      if (!candidates.length) {
        exclude(okOnes.length ? 'not-in-policy' : `verdict:${verdict}`, key);
        continue;
      }
      if (curation.exclude.has(first.base)) {
        exclude('curated', key);
        curated[key] = curation.exclude.get(first.base)!;
        continue;
      }
      const src = sources.get(first.base);
      const promptRef = prompts.get(first.base)?.files.prompt ?? src?.files.prompt;
      if (!src?.files.src) {
        exclude('no-source', key);
        continue;
      }
      if (!promptRef) {
        exclude('no-prompt', key);
        continue;
      }
      const cpp = (await ctx.read(src.files.src)).toString('utf8');
      const prompt = (await ctx.read(promptRef)).toString('utf8').trim();
      const fixedTokens = overhead.reply + 3 * overhead.perMessage + (await counter.count(prompt));
      const build = async (v: ItemView): Promise<Built> => {
        const asm = (await ctx.read(v.files.s!)).toString('utf8');
        const system = systemOf(v);
        const answer = template === 'asm-only' ? asm.trimEnd() : `${CPP_INTRO}\n${cpp.trimEnd()}\n${ASM_INTRO}\n${asm.trimEnd()}`;
        const messages = [
          { role: 'system', content: system },
          { role: 'user', content: prompt },
          { role: 'assistant', content: answer },
        ];
        const assistantTokens = await counter.count(answer);
        const tokens = fixedTokens + (await counter.count(system)) + assistantTokens;
        const b: Built = { tokens, assistantTokens, line: JSON.stringify({ messages }), norm: normaliseCpp(cpp) };
        if (tokens > limit) Object.assign(b, { problem: 'too-long', why: `${tokens} tokens > ${limit} per training example` });
        else if (answerLimit !== null && assistantTokens > answerLimit) Object.assign(b, { problem: 'answer-too-long', why: `answer ${assistantTokens} tokens > ${answerLimit} output tokens` });
        return b;
      };
      let chosen: { g: (typeof candidates)[number]; b: Built; reason: string } | undefined;
      const builtOf = new Map<string, Built>();
      if (policy.shortest) {
        for (const g of candidates) {
          if (!g.view.files.s) continue;
          builtOf.set(g.name, await build(g.view));
        }
        const sorted = candidates.filter((g) => builtOf.has(g.name)).sort((x, y) => builtOf.get(x.name)!.tokens - builtOf.get(y.name)!.tokens);
        if (sorted[0]) chosen = { g: sorted[0], b: builtOf.get(sorted[0].name)!, reason: `shortest of ${sorted.length} validated variants (${builtOf.get(sorted[0].name)!.tokens} tokens)` };
        for (const g of sorted.slice(1)) others[g.name] = `longer: ${builtOf.get(g.name)!.tokens} tokens`;
      } else {
        // Variants passed over for their own answer budget, taken after all if nothing later fits.
        const overBudget: { g: (typeof candidates)[number]; b: Built; budget: number }[] = [];
        for (const g of candidates) {
          if (!g.view.files.s) {
            others[g.name] = 'no assembly';
            continue;
          }
          const b = await build(g.view);
          builtOf.set(g.name, b);
          if (fit === 'model' && b.problem) {
            others[g.name] = `${b.problem}: ${b.why}`;
            continue;
          }
          const budget = preferred[rank(g.v, g.input)]?.budget;
          if (budget !== undefined && b.assistantTokens > budget) {
            others[g.name] = `over its budget: answer ${b.assistantTokens} tokens > ${budget} (policy)`;
            overBudget.push({ g, b, budget });
            continue;
          }
          const passed = Object.keys(others).filter((n) => named.findIndex((x) => x.name === n) < named.findIndex((x) => x.name === g.name));
          chosen = { g, b, reason: passed.length ? `first in the policy that validates${fit === 'model' ? ' and fits' : ''} (before it: ${passed.join(', ')})` : `first in the policy${fit === 'model' ? ', validates and fits' : ', validates'}` };
          break;
        }
        if (!chosen && overBudget[0]) {
          const { g, b, budget } = overBudget[0];
          delete others[g.name];
          chosen = { g, b, reason: `over its budget of ${budget} answer tokens (${b.assistantTokens}), but no later variant validates and fits` };
        }
        for (const g of candidates) if (chosen && g !== chosen.g && !others[g.name]) others[g.name] = `not needed: ${chosen.g.name} was taken`;
      }
      if (!chosen || chosen.b.problem) {
        // Nothing fits: the preferred variant over the limit is excluded, or kept and flagged.
        const g = chosen?.g ?? candidates.find((c) => builtOf.has(c.name));
        if (!g) {
          exclude('no-assembly', key);
          continue;
        }
        const b = builtOf.get(g.name)!;
        programs.get(key)!.tokens = b.tokens;
        if (!keepOver) {
          exclude(b.problem!, key);
          if (b.problem === 'too-long') tooLongTokens[key] = b.tokens;
          ctx.log(`${key}: ${b.why} of ${model} (every variant: ${Object.entries(others).map(([n, w]) => `${n} ${w}`).join('; ')})`);
          continue;
        }
        chosen = { g, b, reason: `kept over the limit (overLimit: keep): ${b.why}` };
        (flagged[b.problem!] ??= []).push(key);
      }
      const { g, b } = chosen;
      delete others[g.name];
      const item = g.view;
      const dedupeKey = `${JSON.stringify(item.vars)}|${b.norm}`;
      const dup = seen.get(dedupeKey);
      if (dup) {
        exclude('duplicate', key);
        ctx.log(`${key}: duplicate of ${dup}`);
        continue;
      }
      seen.set(dedupeKey, key);
      if (typeof item.meta.tokensRaw === 'number') rawAsmTokens += item.meta.tokensRaw;
      if (typeof item.meta.tokens === 'number') finalAsmTokens += item.meta.tokens;
      if (typeof item.meta.cleanRejected === 'string') cleanFallbacks[item.meta.cleanRejected] = (cleanFallbacks[item.meta.cleanRejected] ?? 0) + 1;
      programs.get(key)!.tokens = b.tokens;
      const cases = item.files.cases ? (JSON.parse((await ctx.read(item.files.cases)).toString('utf8')) as { from?: string; cases?: Json }) : undefined;
      variantsTaken[g.name] = (variantsTaken[g.name] ?? 0) + 1;
      examples.push({
        ...(cases ? { cases: cases.cases ?? [], casesFrom: cases.from ?? 'none' } : {}),
        key, split: splitOf(b.norm, validFraction), tokens: b.tokens, assistantTokens: b.assistantTokens,
        line: b.line, variant: typeof item.meta.variant === 'string' ? item.meta.variant : undefined,
        variantName: g.name, variantReason: chosen.reason, others, flags: b.problem ? [b.problem] : undefined,
        asmTokens: typeof item.meta.tokens === 'number' ? item.meta.tokens : undefined,
        asmTokensRaw: typeof item.meta.tokensRaw === 'number' ? item.meta.tokensRaw : undefined,
      });
    }

    const bases = new Set([...groups.values()].flatMap((g) => g.map((x) => x.view.base)));
    const unknownCurated = [...curation.exclude.keys()].filter((b) => !bases.has(b));
    const train = examples.filter((e) => e.split === 'train');
    const valid = examples.filter((e) => e.split === 'valid');
    const tokenList = examples.map((e) => e.tokens);
    const trainTokens = train.reduce((n, e) => n + e.tokens, 0);
    await counter.save();
    ctx.log(`token counts: ${counter.counted()} texts counted with ${limits.tokenizer}, the rest remembered`);
    const cost = estimateTrainingCost({ trainingTokens: trainTokens, epochs, model, examples: train.length });
    const problems: string[] = [];
    if (train.length < 10) problems.push(`only ${train.length} training examples: OpenAI requires at least 10`);
    const report = {
      model, system, template, validFraction, limitPerExample: limit, limitPerAnswer: answerLimit,
      tokenizer: { name: limits.tokenizer, exact: limits.exact, note: limits.note },
      policy: p.policy ?? null,
      variants: variantsTaken,
      overLimitKept: Object.fromEntries(Object.entries(flagged).map(([k, v]) => [k, { count: v.length, items: v }])),
      items: groups.size,
      verdicts,
      excluded: Object.fromEntries(Object.entries(excluded).map(([k, v]) => [k, { count: v.length, items: v }])),
      examples: { total: examples.length, train: train.length, valid: valid.length },
      tokens: {
        total: tokenList.reduce((a, b) => a + b, 0), train: trainTokens,
        min: tokenList.length ? Math.min(...tokenList) : 0, median: median(tokenList), max: tokenList.length ? Math.max(...tokenList) : 0,
        assembly: { raw: rawAsmTokens, final: finalAsmTokens, saved: rawAsmTokens ? Math.round((1 - finalAsmTokens / rawAsmTokens) * 1000) / 10 : 0 },
      },
      cleaning: { fellBackToRaw: cleanFallbacks },
      inputs: {
        examplesWithCases: examples.filter((e) => e.casesFrom && e.casesFrom !== 'none').length,
        cases: examples.reduce((n, e) => n + (e.casesFrom && e.casesFrom !== 'none' && Array.isArray(e.cases) ? e.cases.length : 0), 0),
        from: examples.reduce<Record<string, number>>((m, e) => (e.casesFrom ? { ...m, [e.casesFrom]: (m[e.casesFrom] ?? 0) + 1 } : m), {}),
      },
      curated,
      tooLongTokens,
      unknownCurated,
      cost: { epochs, usdPerMillion: cost.usdPerMillion, billedTokens: cost.billedTokens, usd: cost.usd },
      checks: { roles: 'system, user, assistant in every example', problems },
      // Every program, included or not: where it is, its verdict, why it is out, and its message.
      programs: [...programs.values()].map((x) => {
        const e = examples.find((ex) => ex.key === x.key);
        return { ...x, included: !!e, split: e?.split ?? null };
      }),
      perExample: examples.map((e) => ({
        key: e.key, split: e.split, tokens: e.tokens, assistantTokens: e.assistantTokens, variant: e.variantName ?? e.variant ?? null,
        variantReason: e.variantReason ?? null, notTaken: e.others ?? {}, cleaned: e.variant ?? null, flags: e.flags ?? [],
        assemblyTokens: e.asmTokens ?? null, assemblyTokensRaw: e.asmTokensRaw ?? null,
        ...(e.cases ? { cases: e.cases, casesFrom: e.casesFrom ?? 'none' } : {}),
      })),
    };
    const verdictText = Object.entries(verdicts).sort((a, b) => b[1] - a[1]).map(([v, n]) => `${v} ${n}`).join(', ');
    const summary = [
      `dataset: ${examples.length} examples (${train.length} train, ${valid.length} valid) from ${report.items} programs; verdicts: ${verdictText || 'none'}`,
      `  tokens per example: min ${report.tokens.min}, median ${report.tokens.median}, max ${report.tokens.max}; train total ${trainTokens}` +
        (rawAsmTokens ? `; assembly ${rawAsmTokens} → ${finalAsmTokens} tokens after cleaning (−${report.tokens.assembly.saved} %)` : ''),
      cost.usd === null
        ? `  estimated fine-tuning cost: no price table for ${model} (${epochs} epochs × ${trainTokens} tokens; a Together job is priced by Together's own estimate, which finetune checks against --max-cost before it starts)`
        : `  estimated fine-tuning cost: $${cost.usd.toFixed(2)} (${epochs} epochs × ${trainTokens} tokens${cost.usdPerMillion !== null ? ` × $${cost.usdPerMillion}/1M` : ''}, ${model})`,
      ...(Object.keys(variantsTaken).length > 1 || fromNames.length > 1 ? [`  variants taken: ${Object.entries(variantsTaken).sort((x, y) => y[1] - x[1]).map(([n, c]) => `${n} ${c}`).join(', ')}`] : []),
      ...Object.entries(flagged).map(([r, keys]) => `  kept over the limit (${r}): ${keys.length} (${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', …' : ''})`),
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

/** A program's line in the report, before it is known whether it is included. */
function programEntry(item: ItemView, source: ItemView | undefined, verdict: string): JsonObject {
  const path = source?.paths?.src ?? null;
  const message = item.message ? (path ? item.message.replace(/(?<![\w./-])prog\.cpp(?![\w-])/g, path) : item.message) : null;
  return { key: item.key, source: path, verdict, reason: item.reason ?? null, message, excludedFor: null, tokens: null };
}

/**
 * The toolchain the default system message describes when `params.toolchain` is not given:
 * `x86_64` (the default of compile and validate), else the project's only toolchain.
 */
async function defaultToolchain(projectRoot: string): Promise<string> {
  const known = await listToolchains(projectRoot);
  if (known.includes('x86_64') || known.length === 0) return 'x86_64';
  if (known.length === 1) return known[0]!;
  throw new InfraError(`dataset: the system message names the compiler: set params.toolchain to the one that made the assembly (known: ${known.join(', ')})`);
}
