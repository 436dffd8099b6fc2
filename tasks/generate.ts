/**
 * `generate`: asks a chat model for C++ programs, like the seed's batch file, and turns every
 * answer that holds C++ into an item of a new collection (`gen-<sha256 of the code, 12 hex>`, so
 * identical programs are one item) that other targets fan out over.
 *
 * Requests go through the Batch API (`mode: batch`, default) or as concurrent chat completions
 * (`mode: online`). Results are journaled in the target's persistent folder as they arrive and
 * batch ids right after creation, so an interrupted or crashed run resumes the same batch and no
 * request is ever paid for twice; once the node finished, the action cache keeps it from running
 * again. Requests that fail (after the SDK's retries) fail the build: their results are not stored,
 * and the next run re-submits only those.
 */
import {
  DEFAULT_ENDPOINT, extractCpp, itemKey, runBatch, runOnline, sha256,
  type LlmRequest, type LlmResult, type OnlineProgress,
} from '../src/llm/index.js';
import {
  InfraError, type GeneratedItem, type JsonObject, type PlanContext, type ReduceInput, type ReduceKind,
  type RunContext, type TaskResult,
} from '../src/task-api.js';
import { chatCost } from './lib/chat-prices.js';
import {
  batchProgress, clientFor, costRange, DEFAULT_POLL_MS, fmtInt, fmtUsd, journalFor, modeSchema, needCapability, pollMsSchema,
  promptTokens, providerConfig, providerSchema, scrub, taskSignal, type ChatMessage, type ProviderParams,
} from './lib/llm-params.js';

export const DEFAULT_GENERATE_SYSTEM =
  'You will write only the code of a random program in pure C++ and nothing else. Do not include any explanations, comments, or additional text.';

interface Variant {
  id?: string;
  model?: string;
  system?: string;
  user?: string;
  n?: number;
  max_tokens?: number;
  temperature?: number;
  count?: number;
}

interface GenerateParams {
  model: string;
  system?: string;
  user?: string;
  n?: number;
  max_tokens?: number;
  temperature?: number;
  requests?: number | Variant[];
  mode?: 'batch' | 'online';
  provider?: ProviderParams;
  pollMs?: number;
}

const requestFields: Record<string, JsonObject> = {
  model: { type: 'string', minLength: 1, description: 'Chat model, e.g. gpt-4o-mini (the seed used gpt-3.5-turbo).' },
  system: { type: 'string', minLength: 1, description: 'System message (default: the seed\'s "You will write only the code of a random program in pure C++ ...").' },
  user: { type: 'string', minLength: 1, description: 'Optional user message after the system message.' },
  n: { type: 'integer', minimum: 1, maximum: 128, description: 'Completions per request (the seed used 100).' },
  max_tokens: { type: 'integer', minimum: 1, description: 'Completion token limit per choice (default 1000).' },
  temperature: { type: 'number', minimum: 0, maximum: 2 },
};

export const generateKind: ReduceKind = {
  name: 'generate',
  version: '1',
  mode: 'reduce',
  producesItems: true,
  pool: 'llm',
  description: 'Asks a chat model for C++ programs (Batch API or online); every extracted program becomes an item.',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['model'],
    properties: {
      ...requestFields,
      requests: {
        description: 'How many requests (lines of the batch file) with the settings above, or a list of request variants (like the seed\'s two lines).',
        oneOf: [
          { type: 'integer', minimum: 1, maximum: 50000 },
          {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              additionalProperties: false,
              properties: {
                ...requestFields,
                id: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$', description: 'custom_id of the request (default v<index>).' },
                count: { type: 'integer', minimum: 1, maximum: 50000, description: 'Send this variant this many times (custom_ids <id>-1, <id>-2, ...).' },
              },
            },
          },
        ],
      },
      mode: modeSchema,
      provider: providerSchema,
      pollMs: pollMsSchema,
    },
  },
  outputs: () => [{ name: 'report', file: 'generate.report.json' }],

  async plan(_input: ReduceInput, ctx: PlanContext): Promise<string[]> {
    const p = ctx.params as unknown as GenerateParams;
    const mode = p.mode ?? 'batch';
    const cfg = providerConfig(p.provider);
    needCapability(cfg, mode === 'batch' ? 'batch' : 'chat');
    const reqs = buildRequests(p);
    const est = estimate(reqs, mode === 'batch');
    return [
      `${ctx.target}: would send ${fmtInt(reqs.length)} ${reqs.length === 1 ? 'request' : 'requests'} (${mode} mode) for up to ${fmtInt(est.choices)} programs`,
      `${ctx.target}: ~${fmtInt(est.prompt)} prompt tokens (o200k estimate), at most ${fmtInt(est.completion)} completion tokens (n × max_tokens)`,
      ...est.lines.map((c) => `${ctx.target}: ${c}`),
      ...(ctx.flags.maxCost !== undefined && est.maxUsd !== null && est.maxUsd > ctx.flags.maxCost
        ? [`${ctx.target}: would refuse: the upper bound ${fmtUsd(est.maxUsd)} is over --max-cost ${fmtUsd(ctx.flags.maxCost)}`] : []),
      `${ctx.target}: dry run: nothing was sent`,
    ];
  },

  async run(_input: ReduceInput, ctx: RunContext): Promise<TaskResult> {
    const p = ctx.params as unknown as GenerateParams;
    const mode = p.mode ?? 'batch';
    const cfg = providerConfig(p.provider);
    needCapability(cfg, mode === 'batch' ? 'batch' : 'chat');
    const reqs = buildRequests(p);
    const client = clientFor(cfg);
    const journal = await journalFor(ctx, cfg);
    const say = (line: string) => {
      ctx.log(line);
      ctx.progress(line);
    };
    const cap = ctx.flags.maxCost;
    if (cap !== undefined) {
      // Only what is not answered yet costs anything: a resumed run is checked on the rest.
      const answered = await Promise.all(reqs.map((r) => journal.get(itemKey(DEFAULT_ENDPOINT, r))));
      const est = estimate(reqs.filter((_, i) => !answered[i]), mode === 'batch');
      if (est.maxUsd !== null && est.maxUsd > cap) {
        throw new InfraError(
          `${est.requests} requests could cost up to ${fmtUsd(est.maxUsd)} (${fmtInt(est.prompt)} prompt + at most ${fmtInt(est.completion)} completion tokens), over --max-cost ${fmtUsd(cap)}; nothing was sent`,
          'raise --max-cost, or lower requests, n or max_tokens',
        );
      }
    }
    const signal = taskSignal(ctx.signal);
    let results: Map<string, LlmResult>;
    try {
      results = mode === 'batch'
        ? await runBatch(client, reqs, {
          journal, pollMs: p.pollMs ?? DEFAULT_POLL_MS, signal, onProgress: batchProgress(say),
          metadata: { asmgraph_target: ctx.target.slice(0, 500) },
        })
        : await runOnline(client, reqs, { journal, concurrency: ctx.concurrency.llm, signal, onProgress: onlineProgress(say) });
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      throw scrub(err);
    }
    const failed = [...results].filter(([, r]) => !r.ok) as [string, { ok: false; error: string }][];
    if (failed.length) {
      const answered = reqs.length - failed.length;
      throw new InfraError(
        `${failed.length} of ${reqs.length} requests got no answer (${failed.slice(0, 3).map(([id, r]) => `${id}: ${r.error}`).join('; ')}${failed.length > 3 ? '; ...' : ''})`,
        `the ${answered} answered are kept in the journal; run the build again to re-submit only the ${failed.length} missing`,
      );
    }
    return collect(ctx.target, p, mode, reqs, results);
  },
};

interface Estimate {
  requests: number;
  choices: number;
  prompt: number;
  /** Upper bound: n × max_tokens per request. */
  completion: number;
  /** Upper bound in USD, or null when a model has no known price. */
  maxUsd: number | null;
  /** A cost range per model. */
  lines: string[];
}

function estimate(reqs: LlmRequest[], batch: boolean): Estimate {
  const e: Estimate = { requests: reqs.length, choices: 0, prompt: 0, completion: 0, maxUsd: 0, lines: [] };
  const byModel = new Map<string, { prompt: number; completion: number }>();
  for (const r of reqs) {
    const b = r.body as ReturnType<typeof requestBody>;
    const pt = promptTokens(b.messages);
    e.prompt += pt;
    e.completion += b.n * b.max_tokens;
    e.choices += b.n;
    const m = byModel.get(b.model) ?? { prompt: 0, completion: 0 };
    m.prompt += pt;
    m.completion += b.n * b.max_tokens;
    byModel.set(b.model, m);
  }
  for (const [model, m] of byModel) {
    e.lines.push(`${model}: ${costRange(model, m.prompt, m.completion, batch)}`);
    const hi = chatCost(model, m.prompt, m.completion, batch);
    e.maxUsd = e.maxUsd === null || hi === null ? null : e.maxUsd + hi;
  }
  return e;
}

function requestBody(p: GenerateParams, v: Variant) {
  const system = v.system ?? p.system ?? DEFAULT_GENERATE_SYSTEM;
  const user = v.user ?? p.user;
  const messages: ChatMessage[] = [{ role: 'system', content: system }];
  if (user !== undefined) messages.push({ role: 'user', content: user });
  const temperature = v.temperature ?? p.temperature;
  return {
    model: v.model ?? p.model,
    messages,
    n: v.n ?? p.n ?? 1,
    max_tokens: v.max_tokens ?? p.max_tokens ?? 1000,
    ...(temperature !== undefined ? { temperature } : {}),
  };
}

/** The request lines, with stable custom_ids (they are part of each request's journal key). */
export function buildRequests(p: GenerateParams): LlmRequest[] {
  const out: LlmRequest[] = [];
  const spec = p.requests ?? 1;
  if (typeof spec === 'number') {
    for (let i = 0; i < spec; i++) out.push({ custom_id: `gen-${i + 1}`, body: requestBody(p, {}) });
  } else {
    spec.forEach((v, i) => {
      const id = v.id ?? `v${i + 1}`;
      const count = v.count ?? 1;
      for (let j = 0; j < count; j++) out.push({ custom_id: count > 1 ? `${id}-${j + 1}` : id, body: requestBody(p, v) });
    });
  }
  const seen = new Set<string>();
  for (const r of out) {
    if (seen.has(r.custom_id)) throw new InfraError(`request id "${r.custom_id}" is used twice: give every entry of params.requests its own id`);
    seen.add(r.custom_id);
  }
  return out;
}

interface RejectedChoice {
  custom_id: string;
  choice: number;
  reason: string;
  excerpt: string;
}

function collect(target: string, p: GenerateParams, mode: string, reqs: LlmRequest[], results: Map<string, LlmResult>): TaskResult {
  const items: GeneratedItem[] = [];
  const seen = new Map<string, string>();
  const rejected: RejectedChoice[] = [];
  let choices = 0;
  let duplicates = 0;
  let truncated = 0;
  let prompt = 0;
  let completion = 0;
  let cost: number | null = 0;
  for (const req of reqs) {
    const r = results.get(req.custom_id)!;
    if (!r.ok) continue;
    const body = req.body as ReturnType<typeof requestBody>;
    const usage = r.body.usage;
    prompt += usage?.prompt_tokens ?? 0;
    completion += usage?.completion_tokens ?? 0;
    const c = chatCost(body.model, usage?.prompt_tokens ?? 0, usage?.completion_tokens ?? 0, mode === 'batch');
    cost = cost === null || c === null ? null : cost + c;
    const sorted = [...r.body.choices].sort((a, b) => a.index - b.index);
    for (const ch of sorted) {
      choices++;
      const content = ch.message?.content ?? '';
      const refusal = (ch.message as { refusal?: string | null } | undefined)?.refusal;
      const code = content.trim() === '' ? null : extractCpp(content);
      if (!code) {
        rejected.push({
          custom_id: req.custom_id, choice: ch.index,
          reason: refusal ? 'refusal' : content.trim() === '' ? 'empty' : 'no-code',
          excerpt: (refusal || content).slice(0, 200),
        });
        continue;
      }
      const base = `gen-${sha256(code).slice(0, 12)}`;
      if (seen.has(base)) {
        duplicates++;
        continue;
      }
      seen.set(base, req.custom_id);
      const meta: JsonObject = { model: body.model, custom_id: req.custom_id, choice: ch.index };
      if (ch.finish_reason === 'length') {
        meta.truncated = true;
        truncated++;
      }
      items.push({ base, files: { src: code }, meta });
    }
  }
  const byReason: Record<string, number> = {};
  for (const r of rejected) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
  const report = {
    model: p.model,
    mode,
    requests: reqs.length,
    choices,
    extracted: items.length + duplicates,
    programs: items.length,
    duplicates,
    truncated,
    rejected: { count: rejected.length, byReason, choices: rejected },
    tokens: { prompt, completion },
    costUsd: cost,
    costNote: cost === null ? `no price known for ${p.model}` : mode === 'batch' ? 'Batch API price (50% off), from reported usage' : 'from reported usage',
  };
  const summary = [
    `${target}: ${plural(reqs.length, 'request')}, ${plural(choices, 'answer')} → ${plural(items.length, 'program')}` +
      `${duplicates ? ` (${duplicates} duplicates merged)` : ''}${rejected.length ? `; ${rejected.length} without C++ (${Object.entries(byReason).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}`,
    `${target}: ${fmtInt(prompt)} prompt + ${fmtInt(completion)} completion tokens${cost !== null ? `, ${fmtUsd(cost)}` : ''}`,
  ];
  return {
    status: 'ok',
    files: { report: `${JSON.stringify(report, null, 2)}\n` },
    meta: {
      requests: reqs.length, choices, programs: items.length, duplicates, rejected: rejected.length,
      promptTokens: prompt, completionTokens: completion, costUsd: cost, summary,
    },
    items,
  };
}

export function onlineProgress(say: (line: string) => void): (e: OnlineProgress) => void {
  return (e) => {
    if (e.type === 'cached') {
      if (e.count) say(`${e.count}/${e.total} requests already answered (journal)`);
      return;
    }
    const step = Math.max(1, Math.floor(e.total / 10));
    if (e.completed % step === 0 || e.completed === e.total) say(`${e.completed}/${e.total} requests answered`);
  };
}

const plural = (n: number, word: string): string => `${fmtInt(n)} ${word}${n === 1 ? '' : 's'}`;
