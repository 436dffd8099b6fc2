/**
 * `eval`: the seed author's judgement, as a target. He pasted a model's answer into a file,
 * assembled and ran it, and found a mismatched `.LC1` label printing a line twice; here every
 * (model, prompt, sample) is judged that way, in the sandbox, against the C++ program's own output.
 *
 * Inputs:
 *   from: <dataset>                 its report names the examples of each split (`split`, default valid)
 *   with: validated: <validate>     the expected stdout (`expected`) and exit code (meta) of each program
 *         source: <files>           the C++ (`src`) and, as the dataset did, the prompt sidecar (`prompt`)
 *         prompt: <describe>        optional: prompts written by a model instead of sidecars
 *         model: <finetune>         optional: its `model` file is the id behind `models: [{id: from-finetune}]`
 *
 * For each model, prompt and sample index i < n (n ≥ k, default k) one request is sent — online
 * (ctx.concurrency.llm at a time) or through the Batch API (`mode: batch`), to Chat Completions or the
 * Responses API (`api`) — shaped for the model by src/llm/models.ts (reasoning models get
 * max_completion_tokens and no temperature), with the dataset's system message and the prompt as the
 * user message. The sample index goes into the request as `seed: i` (Responses: metadata.sample) —
 * OpenAI refuses unknown body fields and many compatible servers ignore `n` — so the n samples are n
 * distinct requests, each journaled on its own: a request answered once is never sent again, and adding
 * a model sends only that model's requests. The token budget defaults to the dataset's longest answer.
 *
 * Every test case of a prompt (the dataset report's per-example `cases: [{name, stdin}]`; none listed:
 * one case, validate's run) is run; a sample passes only if all match. A case validate did not run gets
 * its expected output from the C++ program itself (`fillReferences`).
 *
 * Each answer's assembly is extracted (`extractAsm`; none → `no-asm`), then assembled, linked and run
 * with `checkAssembly`, exactly as `validate` runs a compiler's .s. That check is a cached artifact keyed
 * by (assembly hash, expected output, exit code, toolchain, sandbox, limits): re-running costs nothing,
 * and a model added later only has its own samples checked.
 *
 * Outputs (under the build folder): <reportDir>/report.md, report.json, report.html (self-contained).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import pLimit from 'p-limit';
import {
  classifyToolError, extractAsm, nasmSignals, renderReport, stableJson, summarize,
  type ModelPrice, type ReportCase, type ReportData, type ReportPrompt, type ReportSample, type Verdict,
} from '../src/eval/index.js';
import {
  answerText, ENDPOINT_OF, itemKey, maxTokensOf, messagesOf, modelShape, requestBody, runBatch, runOnline, sha256,
  type ApiKind, type LlmRequest, type LlmResult,
} from '../src/llm/index.js';
import {
  InfraError, type FileRef, type ItemView, type JsonObject, type PlanContext, type ReduceInput, type ReduceKind,
  type RunContext, type TaskResult,
} from '../src/task-api.js';
import { compileFlags, toolchainFor, toolchainParamsSchema } from './lib/cxx-params.js';
import { compileToAsm } from './lib/gxx.js';
import { SEED_SYSTEM } from './lib/system-message.js';
import { chatCost, chatPrice } from './lib/chat-prices.js';
import {
  clientFor, DEFAULT_POLL_MS, fmtInt, fmtUsd, journalFor, needCapability, pollMsSchema, promptTokens, providerConfig, providerSchema, scrub, taskSignal,
  type ChatMessage, type ProviderParams,
} from './lib/llm-params.js';
import { checkAssembly, programRunIdentity, sandboxLimits, type ValidateParams, type Verdict as RunVerdictName } from './lib/program-check.js';

/** The model id that means "the id in the `model` input's file" (a finetune target's build/model.txt). */
export const FROM_FINETUNE = 'from-finetune';

interface ModelSpec {
  id: string;
  label?: string;
  provider?: ProviderParams;
  /** Overrides the model table: true sends max_completion_tokens and no temperature. */
  reasoning?: boolean;
}

interface EvalParams {
  models: ModelSpec[];
  split?: 'valid' | 'train' | 'all';
  maxPrompts?: number;
  system?: string;
  temperature?: number;
  max_tokens?: number;
  k?: number;
  n?: number;
  mode?: 'online' | 'batch';
  api?: ApiKind;
  pollMs?: number;
  provider?: ProviderParams;
  toolchain?: string;
  opt?: string;
  flags?: string[];
  stdin?: string;
  timeoutMs?: number;
  memoryMB?: number;
  compareExitCode?: boolean;
  nondeterminism?: boolean;
  title?: string;
  reportDir?: string;
}

const DEFAULT_K = 5;
const DEFAULT_TEMPERATURE = 0.9;
/** The token budget when the dataset report does not say how long its answers are. */
const FALLBACK_MAX_TOKENS = 4096;
/** Extra completion tokens a reasoning model gets for its hidden reasoning. */
const REASONING_ALLOWANCE = 4096;
const DEFAULT_TIMEOUT_MS = 5000;
const CHECK_VERSION = '1';
const REFERENCE_VERSION = '1';
/** The case of a program without test cases: empty stdin (or params.stdin). */
const DEFAULT_CASE = 'default';
/** Longest stdout kept per sample in the report. */
const STDOUT_CLIP = 4000;

/** One test case of a prompt: its stdin and what the C++ program does with it. */
interface EvalCase {
  name: string;
  stdin: string;
  expected: Buffer;
  expectedHash: string;
  /** The C++ program's exit code, or undefined when the validate record predates it (then only stdout is compared). */
  exitCode: number | null | undefined;
}

/** One prompt of the evaluation: what is asked and what the answer must do. */
interface EvalPrompt {
  key: string;
  prompt: string;
  cpp: string;
  /** Every test case; an answer passes only if it matches on all of them. */
  cases: EvalCase[];
  /** Sizes for --dry-run estimates when a blob is not stored. */
  promptBytes: number;
}

interface ResolvedModel {
  id: string;
  label: string;
  provider: ProviderParams | undefined;
  /** Where the id came from, for the report. */
  origin: string;
  reasoning?: boolean;
}

const modelSchema: JsonObject = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: {
      type: 'string', minLength: 1,
      description: `Chat model id (gpt-4o-mini, ft:gpt-4o-mini-2024-07-18:org::abc, ...), or "${FROM_FINETUNE}": the id in the file of the \`with: {model: <finetune target>}\` input.`,
    },
    label: { type: 'string', minLength: 1, description: 'Name in the report (default: the id).' },
    provider: { ...providerSchema, description: 'Where this model\'s requests go (default: params.provider).' },
    reasoning: { type: 'boolean', description: 'Send this model max_completion_tokens and no temperature (default: from the model table: gpt-5*, o-series).' },
  },
};

export const evalKind: ReduceKind = {
  name: 'eval',
  version: '1',
  mode: 'reduce',
  pool: 'llm',
  description: 'Asks models for assembly of held-out prompts, assembles, links and runs every answer in the sandbox; pass@k report.',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['models'],
    properties: {
      models: { type: 'array', minItems: 1, items: modelSchema, description: 'Models to compare, in report order.' },
      split: { enum: ['valid', 'train', 'all'], description: 'Which examples of the dataset report are the prompts (default valid).' },
      maxPrompts: { type: 'integer', minimum: 1, description: 'Evaluate only the first N prompts (by key), for a cheap trial.' },
      system: { type: 'string', minLength: 1, description: "System message (default: the dataset's, i.e. the seed's)." },
      temperature: { type: 'number', minimum: 0, maximum: 2, description: `Sampling temperature (default ${DEFAULT_TEMPERATURE}, as the seed's playground).` },
      max_tokens: {
        type: 'integer', minimum: 1,
        description: `Answer token limit per request (default: 1.25 × the dataset's longest answer + 64, plus ${REASONING_ALLOWANCE} for a reasoning model; ${FALLBACK_MAX_TOKENS} when the report does not say). Sent as max_tokens, or max_completion_tokens to reasoning models, or max_output_tokens with api: responses.`,
      },
      k: { type: 'integer', minimum: 1, maximum: 100, description: `k of pass@k (default ${DEFAULT_K}); pass@1 is always reported.` },
      n: { type: 'integer', minimum: 1, maximum: 200, description: 'Samples per (model, prompt), each its own request (default k; must be at least k). More samples than k give a less noisy pass@k.' },
      mode: { enum: ['online', 'batch'], description: 'online (default): concurrent requests in the llm pool; batch: the Batch API (half the price, up to 24 h; resumed after a crash).' },
      api: { enum: ['chat', 'responses'], description: 'chat (default): Chat Completions; responses: the Responses API (online and batch).' },
      pollMs: pollMsSchema,
      provider: providerSchema,
      ...toolchainParamsSchema,
      stdin: { type: 'string', description: 'Standard input of a program without test cases (default empty; use what validate used). Programs whose dataset entry lists `cases` run once per case.' },
      timeoutMs: { type: 'integer', minimum: 100, description: `Wall-clock limit per run of an answer (default ${DEFAULT_TIMEOUT_MS}).` },
      memoryMB: { type: 'integer', minimum: 16, description: 'Address-space limit per run (default 1024).' },
      compareExitCode: { type: 'boolean', description: "The answer's exit code must match the C++ program's (default true)." },
      nondeterminism: { type: 'boolean', description: 'Run answers under the same fixed clock as validate (default true).' },
      title: { type: 'string', minLength: 1, description: 'Report title (default "asmgraph evaluation: <target>").' },
      reportDir: {
        type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$',
        description: 'Folder (under the build folder) for report.md/.json/.html (default eval).',
      },
    },
  },
  reads: { from: ['report'], validated: ['expected'], source: ['src', 'prompt'], prompt: ['prompt'], model: ['model'] },
  outputs: (params) => {
    const dir = String((params as { reportDir?: string }).reportDir ?? 'eval');
    return [
      { name: 'md', file: `${dir}/report.md` },
      { name: 'json', file: `${dir}/report.json` },
      { name: 'html', file: `${dir}/report.html` },
    ];
  },
  async prepare(ctx) {
    // The toolchain's and sandbox's identity, exactly as validate computes it.
    return programRunIdentity(ctx);
  },

  async plan(input: ReduceInput, ctx: PlanContext): Promise<string[]> {
    const p = ctx.params as unknown as EvalParams;
    const t = ctx.target;
    const ds = await readDatasetReport(input, ctx.read);
    if ('rejected' in ds) return [`${t}: would be rejected: ${ds.rejected}`];
    const { k, n } = samplesOf(p, t);
    const { prompts, skipped } = await gatherPrompts(input, ctx.read, p, ds, true);
    const models = await resolveModels(p, input, ctx.read, true);
    const system = p.system ?? ds.system;
    const batch = (p.mode ?? 'online') === 'batch';
    const lines: string[] = [];
    const total = models.length * prompts.length * n;
    const cases = prompts.reduce((a, pr) => a + pr.cases.length, 0);
    lines.push(
      `${t}: would send ${fmtInt(total)} requests (${models.length} models × ${prompts.length} prompts of split ${p.split ?? 'valid'} × ${n} samples, ${batch ? 'Batch API' : 'online'}, ${p.api ?? 'chat'} API; answers already in the journal would not be sent again); pass@1 and pass@${k}`,
    );
    if (skipped.length) lines.push(`${t}: ${skipped.length} examples skipped: ${skipped.slice(0, 3).join('; ')}${skipped.length > 3 ? '; …' : ''}`);
    let pt = 0;
    for (const pr of prompts) {
      const msgs = messagesFor(system, pr.prompt);
      pt += pr.prompt ? promptTokens(msgs) : promptTokens(messagesFor(system, '')) + Math.ceil(pr.promptBytes / 4);
    }
    let maxUsd = 0;
    for (const m of models) {
      if ('unknown' in m) {
        lines.push(`${t}: ${m.label}: ${fmtInt(prompts.length * n)} requests; model id not known until ${m.unknown} is built, so no cost estimate`);
        continue;
      }
      const cfg = providerConfig(m.provider ?? p.provider);
      needCapability(cfg, 'chat');
      if (batch) needCapability(cfg, 'batch');
      const maxTokens = maxTokensFor(p, ds, m);
      const prompt = pt * n;
      const completion = prompts.length * n * maxTokens;
      const lo = chatCost(m.id, prompt, 0, batch);
      const hi = chatCost(m.id, prompt, completion, batch);
      maxUsd += hi ?? 0;
      const shape = modelShape(m.id, m.reasoning).reasoning ? 'reasoning model: max_completion_tokens, no temperature' : 'max_tokens, temperature';
      lines.push(
        `${t}: ${m.label}${m.label !== m.id ? ` (${m.id})` : ''}: ${fmtInt(prompts.length * n)} requests (${shape}), ~${fmtInt(prompt)} prompt tokens, at most ${fmtInt(completion)} completion tokens (${fmtInt(maxTokens)} each), ${lo === null || hi === null ? `no price known for ${m.id}` : `est. cost ${fmtUsd(lo)}–${fmtUsd(hi)}${batch ? ' (Batch price)' : ''}`}`,
      );
    }
    if (ctx.flags.maxCost !== undefined && maxUsd > ctx.flags.maxCost) {
      lines.push(`${t}: would refuse: the upper bound ${fmtUsd(maxUsd)} is over --max-cost ${fmtUsd(ctx.flags.maxCost)}`);
    }
    lines.push(`${t}: every answer would then be assembled, linked and run in the sandbox on ${cases} test cases of ${prompts.length} prompts (toolchain ${p.toolchain ?? 'x86_64'}, ${p.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms per run)`);
    lines.push(`${t}: dry run: nothing sent`);
    return lines;
  },

  async run(input: ReduceInput, ctx: RunContext): Promise<TaskResult> {
    const p = ctx.params as unknown as EvalParams;
    const t = ctx.target;
    const say = (line: string) => {
      ctx.log(line);
      ctx.progress(line);
    };
    const { k, n } = samplesOf(p, t);
    const ds = await readDatasetReport(input, ctx.read);
    if ('rejected' in ds) return { status: 'rejected', reason: 'no-dataset', message: ds.rejected };
    const gathered = await gatherPrompts(input, ctx.read, p, ds, false);
    const skipped = gathered.skipped;
    const tc = await toolchainFor(ctx);
    const limits = sandboxLimits({ timeoutMs: p.timeoutMs ?? DEFAULT_TIMEOUT_MS, memoryMB: p.memoryMB });
    // Test cases whose expected output validate did not record: the C++ program itself is run on them.
    const prompts: EvalPrompt[] = [];
    for (const pr of gathered.prompts) {
      const bad = await fillReferences(ctx, tc, p, limits, pr);
      if (bad) skipped.push(bad);
      else prompts.push(pr);
    }
    for (const s of skipped) ctx.log(`skipped: ${s}`);
    if (!prompts.length) {
      return {
        status: 'rejected', reason: 'no-prompts',
        message: `the dataset's ${p.split ?? 'valid'} split has no usable examples${skipped.length ? ` (${skipped.length} skipped: ${skipped.slice(0, 3).join('; ')})` : ''}; try split: all`,
      };
    }
    const resolved = await resolveModels(p, input, ctx.read, false);
    const models = resolved.filter((m): m is ResolvedModel => !('unknown' in m));
    const seen = new Map<string, string>();
    for (const m of models) {
      const other = seen.get(m.id);
      if (other !== undefined) throw new InfraError(`${t}: models "${other}" and "${m.label}" are both ${m.id}; list each model once`);
      seen.set(m.id, m.label);
    }
    const system = p.system ?? ds.system;
    const api: ApiKind = p.api ?? 'chat';
    const endpoint = ENDPOINT_OF[api];
    const batch = (p.mode ?? 'online') === 'batch';

    // ---- ask ----
    const answers = new Map<string, unknown>();
    // One group per provider, and in batch mode per model too (a batch file holds one model).
    const groups = new Map<string, { provider: ProviderParams | undefined; requests: LlmRequest[] }>();
    const budgets = new Map<string, number>();
    for (const m of models) {
      const provider = m.provider ?? p.provider;
      const gk = JSON.stringify(provider ?? null);
      const g = groups.get(gk) ?? { provider, requests: [] };
      const maxTokens = maxTokensFor(p, ds, m);
      budgets.set(m.id, maxTokens);
      for (const pr of prompts) for (let i = 0; i < n; i++) g.requests.push(requestFor(p, api, system, m, maxTokens, pr, i));
      groups.set(gk, g);
    }
    const prepared = [];
    for (const g of groups.values()) {
      const cfg = providerConfig(g.provider);
      needCapability(cfg, 'chat');
      if (batch) needCapability(cfg, 'batch');
      prepared.push({ ...g, client: clientFor(cfg), journal: await journalFor(ctx, cfg) });
    }
    const cap = ctx.flags.maxCost;
    if (cap !== undefined) {
      // Only what is not answered yet costs anything; the cap is for all providers together.
      const todo: LlmRequest[] = [];
      for (const g of prepared) {
        const done = await Promise.all(g.requests.map((r) => g.journal.get(itemKey(endpoint, r))));
        todo.push(...g.requests.filter((_, i) => !done[i]));
      }
      const hi = maxCostOf(todo, batch);
      if (hi > cap) {
        throw new InfraError(
          `${t}: ${todo.length} requests could cost up to ${fmtUsd(hi)}, over --max-cost ${fmtUsd(cap)}; nothing was sent`,
          'raise --max-cost, or lower n, max_tokens, maxPrompts or the number of models',
        );
      }
    }
    for (const g of prepared) {
      const { client, journal } = g;
      let results: Map<string, LlmResult>;
      try {
        const signal = taskSignal(ctx.signal);
        results = batch
          ? await runBatch(client, g.requests, {
            journal, signal, endpoint, shape: false, pollMs: p.pollMs ?? DEFAULT_POLL_MS, metadata: { asmgraph_target: t.slice(0, 64) },
            onProgress: (e) => {
              if (e.type === 'cached') say(`${e.count}/${e.total} requests already answered (journal); sending ${e.total - e.count} as a batch`);
              else if (e.type === 'created') say(`batch ${e.batchId} created (${e.requests} requests)`);
              else if (e.type === 'resumed') say(`resuming batch ${e.batchId} (${e.requests} requests)`);
              else if (e.type === 'status') say(`batch ${e.batchId}: ${e.status} (${e.counts.completed}/${e.counts.total} done, ${e.counts.failed} failed)`);
              else if (e.type === 'finished') say(`batch ${e.batchId} ${e.status}: ${e.ok} answered, ${e.failed} failed`);
            },
          })
          : await runOnline(client, g.requests, {
            journal, concurrency: ctx.concurrency.llm, signal, endpoint, shape: false,
            onProgress: (e) => {
              if (e.type === 'cached') {
                say(`${e.count}/${e.total} requests already answered (journal); sending ${e.total - e.count}`);
              } else if (e.completed % Math.max(1, Math.floor(e.total / 10)) === 0 || e.completed === e.total) {
                say(`${e.completed}/${e.total} requests answered`);
              }
            },
          });
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        throw scrub(err);
      }
      const failed = [...results].filter(([, r]) => !r.ok) as [string, { ok: false; error: string }][];
      if (failed.length) {
        throw new InfraError(
          `${t}: ${failed.length} of ${g.requests.length} requests got no answer (${failed.slice(0, 3).map(([id, r]) => `${id}: ${r.error}`).join('; ')}${failed.length > 3 ? '; …' : ''})`,
          `the ${g.requests.length - failed.length} answered are kept in the journal; run the build again to send only the ${failed.length} missing`,
        );
      }
      for (const [id, r] of results) if (r.ok) answers.set(id, r.body);
    }

    // ---- judge ----
    const limit = pLimit(Math.max(1, ctx.concurrency.cpu));
    let checked = 0;
    let ran = 0;
    let reused = 0;
    const total = models.length * prompts.length * n;
    const jobs: Promise<ReportSample>[] = [];
    for (const m of models) {
      for (const pr of prompts) {
        for (let i = 0; i < n; i++) {
          const body = answers.get(customId(m.id, pr.key, i))!;
          jobs.push(limit(async () => {
            const s = await judge(ctx, tc, p, limits, m, pr, i, body, (fresh) => (fresh ? ran++ : reused++));
            checked++;
            if (checked % Math.max(1, Math.floor(total / 10)) === 0 || checked === total) say(`${checked}/${total} answers judged`);
            return s;
          }));
        }
      }
    }
    const samples = await Promise.all(jobs);
    ctx.log(`${ran} checks run, ${reused} reused from the cache`);

    // ---- report ----
    const prices: Record<string, ModelPrice> = {};
    for (const m of models) {
      const pr = chatPrice(m.id);
      if (pr) prices[m.id] = batch ? { input: pr.input / 2, output: pr.output / 2 } : { input: pr.input, output: pr.output };
    }
    const metrics = summarize(samples, { k, models: models.map((m) => m.id), prices });
    let newest = 0;
    for (const c of answers.values()) newest = Math.max(newest, answerText(c).created);
    const data: ReportData = {
      title: p.title ?? `asmgraph evaluation: ${t}`,
      // The newest answer's time, not the clock: the same answers give the same report bytes.
      generatedAt: new Date(newest * 1000).toISOString(),
      models: models.map((m) => ({ id: m.id, label: m.label })),
      prompts: prompts.map((pr): ReportPrompt => ({
        id: pr.key, prompt: pr.prompt, cpp: pr.cpp, expectedOutput: pr.cases[0]!.expected.toString('utf8'),
        cases: pr.cases.map((c) => ({ name: c.name, stdin: c.stdin, expected: c.expected.toString('utf8') })),
      })),
      samples,
      metrics,
    };
    const rendered = renderReport(data);
    const settings = {
      split: p.split ?? 'valid', k, n, system, temperature: p.temperature ?? DEFAULT_TEMPERATURE,
      max_tokens: Object.fromEntries(budgets), api, mode: batch ? 'batch' : 'online',
      toolchain: p.toolchain ?? 'x86_64', opt: p.opt ?? 'O0', flags: p.flags ?? [], timeoutMs: p.timeoutMs ?? DEFAULT_TIMEOUT_MS, compareExitCode: p.compareExitCode !== false,
      models: models.map((m) => ({ id: m.id, label: m.label, origin: m.origin, reasoning: modelShape(m.id, m.reasoning).reasoning })),
      skipped,
    };
    const json = stableJson({ ...JSON.parse(rendered.json), settings });

    const reportDir = p.reportDir ?? 'eval';
    const cases = prompts.reduce((a, pr) => a + pr.cases.length, 0);
    const summary: string[] = [
      `${t}: ${prompts.length} prompts (split ${p.split ?? 'valid'}, ${cases} test cases) × ${n} samples × ${models.length} models; report: ${reportDir}/report.{md,json,html} in the build folder`,
    ];
    const meta: JsonObject = { prompts: prompts.length, cases, samples: samples.length, k, n };
    const perModel: JsonObject = {};
    const ci = (iv: [number, number] | null) => (iv ? ` [95% CI ${pct(iv[0])}–${pct(iv[1])}]` : '');
    for (const mm of metrics.models) {
      const m = models.find((x) => x.id === mm.model)!;
      const verdicts = Object.entries(mm.verdicts).filter(([, c]) => c > 0).map(([v, c]) => `${v} ${c}`).join(', ');
      summary.push(
        `  ${m.label}${m.label !== m.id ? ` (${m.id})` : ''}: pass@1 ${pct(mm.passAt1)}${ci(mm.passAt1Interval)}, pass@${k} ${pct(mm.passAtK)}${ci(mm.passAtKInterval)}; ` +
          `${mm.counts.matches}/${mm.samples} match, ${mm.promptsSolved}/${mm.prompts} prompts solved; ${verdicts}` +
          `${mm.cost ? `; ${fmtUsd(mm.cost.total)}` : ''}`,
      );
      perModel[m.label] = {
        id: m.id, passAt1: mm.passAt1, passAtK: mm.passAtK, samples: mm.samples, ok: mm.verdicts.ok,
        passAtKInterval: mm.passAtKInterval, costUsd: mm.cost ? Math.round(mm.cost.total * 1e6) / 1e6 : null,
      };
    }
    meta.models = perModel;
    meta.summary = summary;
    return { status: 'ok', files: { md: rendered.markdown, json, html: rendered.html }, meta };
  },
};

/** k of pass@k and n samples per prompt (n ≥ k). */
function samplesOf(p: EvalParams, target: string): { k: number; n: number } {
  const k = p.k ?? DEFAULT_K;
  const n = p.n ?? k;
  if (n < k) throw new InfraError(`${target}: params.n (${n} samples per prompt) must be at least params.k (${k}): pass@${k} needs ${k} samples`, `set n: ${k} or more, or lower k`);
  return { k, n };
}

/**
 * The answer token budget for a model: params.max_tokens, else 1.25 × the longest assistant answer in
 * the dataset + 64 (an answer as long as the training data's longest must fit), plus an allowance for
 * the hidden reasoning of a reasoning model; 4,096 when the report has no token counts.
 */
function maxTokensFor(p: EvalParams, ds: DatasetInfo, m: { id: string; reasoning?: boolean }): number {
  if (p.max_tokens !== undefined) return p.max_tokens;
  const longest = Math.max(0, ...ds.perExample.map((e) => e.assistantTokens ?? 0));
  const base = longest > 0 ? Math.ceil(longest * 1.25) + 64 : FALLBACK_MAX_TOKENS;
  return modelShape(m.id, m.reasoning).reasoning ? base + REASONING_ALLOWANCE : base;
}

/**
 * Gives every case without a recorded expected output one, by running the C++ program itself on its
 * stdin (compiled with the eval's toolchain and flags, in the sandbox, under the same clock as the
 * answers): a cached artifact per (program, stdin, toolchain, flags, limits). Returns a reason to skip
 * the prompt when the program itself fails on a case.
 */
async function fillReferences(
  ctx: RunContext, tc: Awaited<ReturnType<typeof toolchainFor>>, p: EvalParams, limits: ReturnType<typeof sandboxLimits>, pr: EvalPrompt,
): Promise<string | null> {
  const flags = compileFlags(tc, { toolchain: p.toolchain, opt: p.opt as ValidateParams['opt'], flags: p.flags, clean: false });
  for (const c of pr.cases) {
    if (c.expectedHash) continue;
    const art = await ctx.artifact(
      'eval-reference',
      {
        src: sha256(pr.cpp), stdin: c.stdin, flags, clock: p.nondeterminism !== false,
        toolchain: ctx.identity.toolchain ?? null, sandbox: ctx.identity.sandbox ?? null, limits: limits as JsonObject, version: REFERENCE_VERSION,
      },
      async (dir) => {
        const asm = await compileToAsm({ tc, source: pr.cpp, flags, dir: await ctx.tmpdir(), signal: ctx.signal });
        if (!asm.ok) {
          await fsp.writeFile(path.join(dir, 'stdout'), '');
          return { files: ['stdout'], meta: { verdict: 'compile-error', message: asm.stderr.slice(0, 4000), exitCode: null } };
        }
        // checkAssembly runs the compiler's own assembly exactly as validate runs a reference; compared
        // with an empty output and no exit code it reports what the program printed and returned.
        const r = await checkAssembly(ctx, tc, { toolchain: p.toolchain, stdin: c.stdin, compareExitCode: false, nondeterminism: p.nondeterminism }, asm.asm, { stdout: Buffer.alloc(0), exitCode: null }, limits);
        const verdict = r.verdict === 'output-mismatch' ? 'ok' : r.verdict;
        await fsp.writeFile(path.join(dir, 'stdout'), r.stdout);
        return { files: ['stdout'], meta: { verdict, message: r.message.slice(0, 4000), exitCode: r.exitCode } };
      },
    );
    if (art.meta.verdict !== 'ok') return `${pr.key}: the C++ program itself fails on case ${c.name}: ${String(art.meta.verdict)} ${String(art.meta.message ?? '')}`.trim();
    c.expected = await fsp.readFile(art.paths.stdout);
    c.expectedHash = sha256(c.expected);
    c.exitCode = art.meta.exitCode as number | null;
  }
  return null;
}

// ------------------------------------------------------------------------------------------------
// inputs

interface DatasetInfo {
  system: string;
  perExample: { key: string; split: string; assistantTokens?: number; cases?: { name: string; stdin: string }[] }[];
}

/** A dataset entry's `cases` ([inputs]: one per stdin sidecar or file of `{stem}.inputs/`), or undefined. */
function casesOf(raw: unknown): { name: string; stdin: string }[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const out: { name: string; stdin: string }[] = [];
  for (const c of raw as { name?: unknown; stdin?: unknown }[]) {
    if (typeof c?.name === 'string' && typeof c.stdin === 'string') out.push({ name: c.name, stdin: c.stdin });
  }
  return out.length ? out : undefined;
}

async function readDatasetReport(input: ReduceInput, read: (r: FileRef) => Promise<Buffer>): Promise<DatasetInfo | { rejected: string }> {
  const views = input.inputs.from ?? [];
  const view = views.find((v) => v.status === 'ok' && v.files.report);
  if (!view) {
    const bad = views.find((v) => v.status === 'rejected');
    return { rejected: bad ? `the dataset was rejected (${bad.reason ?? 'rejected'})` : '`from` must be a dataset target (a `report` file with perExample)' };
  }
  let report: { system?: unknown; perExample?: unknown };
  try {
    report = JSON.parse((await read(view.files.report!)).toString('utf8')) as typeof report;
  } catch (err) {
    return { rejected: `the dataset report could not be read: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!Array.isArray(report.perExample)) return { rejected: 'the dataset report has no perExample list: is `from` a dataset target?' };
  const perExample = (report.perExample as { key?: unknown; split?: unknown; assistantTokens?: unknown; cases?: unknown }[])
    .filter((e) => typeof e.key === 'string')
    .map((e) => ({
      key: String(e.key), split: String(e.split ?? ''),
      ...(typeof e.assistantTokens === 'number' ? { assistantTokens: e.assistantTokens } : {}),
      ...(casesOf(e.cases) ? { cases: casesOf(e.cases) } : {}),
    }));
  return { system: typeof report.system === 'string' ? report.system : SEED_SYSTEM, perExample };
}

async function gatherPrompts(
  input: ReduceInput, read: (r: FileRef) => Promise<Buffer>, p: EvalParams, ds: DatasetInfo, lenient: boolean,
): Promise<{ prompts: EvalPrompt[]; skipped: string[] }> {
  const split = p.split ?? 'valid';
  const validated = new Map<string, ItemView>();
  for (const v of input.inputs.validated ?? []) validated.set(v.key, v);
  const byBase = (views: ItemView[] | undefined) => new Map((views ?? []).map((v) => [v.base, v]));
  const sources = byBase(input.inputs.source);
  const described = byBase(input.inputs.prompt);
  const text = async (ref: FileRef): Promise<string | undefined> => {
    try {
      return (await read(ref)).toString('utf8');
    } catch (err) {
      if (lenient) return undefined;
      throw err;
    }
  };
  const entries = new Map(ds.perExample.map((e) => [e.key, e]));
  const keys = [...new Set(ds.perExample.filter((e) => split === 'all' || e.split === split).map((e) => e.key))].sort();
  const prompts: EvalPrompt[] = [];
  const skipped: string[] = [];
  if (!input.inputs.validated) skipped.push('no `with: {validated: <validate target>}` input: the expected outputs are unknown');
  for (const key of keys) {
    if (p.maxPrompts !== undefined && prompts.length >= p.maxPrompts) break;
    const v = validated.get(key);
    if (!v || v.status !== 'ok' || !v.files.expected) {
      if (input.inputs.validated) skipped.push(`${key}: no validated item with an expected output`);
      continue;
    }
    const src = sources.get(v.base);
    const promptRef = described.get(v.base)?.files.prompt ?? src?.files.prompt;
    if (!src?.files.src) {
      skipped.push(`${key}: no source item with a src file`);
      continue;
    }
    if (!promptRef) {
      skipped.push(`${key}: no prompt (a prompt sidecar, or \`with: {prompt: <describe target>}\`)`);
      continue;
    }
    const exit = v.meta.exitCode;
    const exitCode = typeof exit === 'number' || exit === null ? exit : undefined;
    const defaultStdin = p.stdin ?? '';
    const listed = entries.get(key)?.cases;
    // Without listed cases: one case, the run validate recorded. A listed case whose stdin is what
    // validate ran with reuses that record; any other case gets its expected output from the C++
    // program itself (fillReferences), since validate recorded one run only.
    const cases: EvalCase[] = [];
    for (const c of listed ?? [{ name: DEFAULT_CASE, stdin: defaultStdin }]) {
      const recorded = c.stdin === defaultStdin;
      cases.push(recorded
        ? { name: c.name, stdin: c.stdin, expected: lenient ? Buffer.alloc(0) : await read(v.files.expected), expectedHash: v.files.expected.hash, exitCode }
        : { name: c.name, stdin: c.stdin, expected: Buffer.alloc(0), expectedHash: '', exitCode: undefined });
    }
    prompts.push({
      key,
      prompt: ((await text(promptRef)) ?? '').trim(),
      cpp: lenient ? '' : ((await text(src.files.src)) ?? ''),
      cases,
      promptBytes: promptRef.size,
    });
  }
  return { prompts, skipped };
}

/**
 * The models with their ids resolved. `from-finetune` reads the `model` input's file; in a dry run a
 * model input that is not stored yet gives `{unknown: <target>}` instead of failing.
 */
async function resolveModels(
  p: EvalParams, input: ReduceInput, read: (r: FileRef) => Promise<Buffer>, lenient: boolean,
): Promise<(ResolvedModel | { label: string; unknown: string })[]> {
  const out: (ResolvedModel | { label: string; unknown: string })[] = [];
  for (const [i, m] of p.models.entries()) {
    if (m.id !== FROM_FINETUNE) {
      out.push({ id: m.id, label: m.label ?? m.id, provider: m.provider, origin: 'params', ...(m.reasoning !== undefined ? { reasoning: m.reasoning } : {}) });
      continue;
    }
    const views = input.inputs.model;
    if (!views) throw new InfraError(`models[${i}]: "${FROM_FINETUNE}" needs a \`with: {model: <finetune target>}\` input whose \`model\` file holds the model id`);
    const view = views.find((v) => v.files.model);
    if (!view) {
      const bad = views.find((v) => v.status === 'rejected');
      throw new InfraError(`models[${i}]: the model input ${bad ? `was rejected (${bad.reason ?? 'rejected'})` : 'has no `model` file'}; nothing to evaluate`);
    }
    let id: string;
    try {
      id = (await read(view.files.model!)).toString('utf8').trim().split('\n')[0]!.trim();
    } catch (err) {
      if (!lenient) throw err;
      out.push({ label: m.label ?? 'fine-tuned', unknown: view.key });
      continue;
    }
    if (!id) throw new InfraError(`models[${i}]: the model file of ${view.key} is empty`);
    out.push({ id, label: m.label ?? id, provider: m.provider, origin: `${FROM_FINETUNE} (${view.key})`, ...(m.reasoning !== undefined ? { reasoning: m.reasoning } : {}) });
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// requests

function messagesFor(system: string, prompt: string): ChatMessage[] {
  return [
    { role: 'system', content: system },
    { role: 'user', content: prompt },
  ];
}

function customId(model: string, promptKey: string, sample: number): string {
  return `eval:${promptKey}#${sample}@${model}`;
}

function requestFor(p: EvalParams, api: ApiKind, system: string, m: ResolvedModel, maxTokens: number, pr: EvalPrompt, sample: number): LlmRequest {
  return {
    custom_id: customId(m.id, pr.key, sample),
    // Shaped for the model (see src/llm/models.ts). The sample index is the seed: n distinct
    // requests (and journal entries) rather than `n`, which many servers ignore and reasoning models refuse.
    body: requestBody(api, {
      model: m.id, system, user: pr.prompt, maxTokens, temperature: p.temperature ?? DEFAULT_TEMPERATURE, seed: sample,
      ...(m.reasoning !== undefined ? { reasoning: m.reasoning } : {}),
    }),
  };
}

/** Upper bound in USD of a set of requests (their token limit each); models without a known price (local servers) count 0. */
function maxCostOf(reqs: LlmRequest[], batch: boolean): number {
  let usd = 0;
  for (const r of reqs) {
    const b = r.body as Record<string, unknown>;
    usd += chatCost(String(b.model), promptTokens(messagesOf(b)), maxTokensOf(b), batch) ?? 0;
  }
  return usd;
}

// ------------------------------------------------------------------------------------------------
// judging one sample

async function judge(
  ctx: RunContext, tc: Awaited<ReturnType<typeof toolchainFor>>, p: EvalParams, limits: ReturnType<typeof sandboxLimits>,
  m: ResolvedModel, pr: EvalPrompt, index: number, body: unknown, onCheck: (fresh: boolean) => void,
): Promise<ReportSample> {
  const got = answerText(body);
  const answer = got.text;
  const base = { model: m.id, prompt: pr.key, index, answer, ...(got.usage ? { usage: got.usage } : {}) };
  const cut = got.truncated ? ' (the answer was cut off at the token limit)' : '';
  const ex = extractAsm(answer);
  if (!ex.ok) {
    return { ...base, verdict: 'no-asm', detail: `no assembly found in the answer${cut}` };
  }
  const asm = ex.asm;
  // Every case is checked (a cached artifact each), so the report can say which ones fail.
  const results: (ReportCase & { raw: RunVerdictName; message: string; stdoutPath?: string })[] = [];
  for (const c of pr.cases) {
    const compareExitCode = p.compareExitCode !== false && c.exitCode !== undefined;
    const vp: ValidateParams = { toolchain: p.toolchain, stdin: c.stdin, compareExitCode, nondeterminism: p.nondeterminism };
    let fresh = false;
    const art = await ctx.artifact(
      'eval-check',
      {
        asm: sha256(asm), expected: c.expectedHash, exitCode: compareExitCode ? (c.exitCode ?? null) : 'ignored',
        stdin: c.stdin, clock: p.nondeterminism !== false,
        toolchain: ctx.identity.toolchain ?? null, sandbox: ctx.identity.sandbox ?? null,
        limits: limits as JsonObject, version: CHECK_VERSION,
      },
      async (dir) => {
        fresh = true;
        const r = await checkAssembly(ctx, tc, vp, asm, { stdout: c.expected, exitCode: c.exitCode ?? null }, limits);
        await fsp.writeFile(path.join(dir, 'stdout'), r.stdout);
        return { files: ['stdout'], meta: { verdict: r.verdict, message: r.message.slice(0, 8000), exitCode: r.exitCode } };
      },
    );
    onCheck(fresh);
    const raw = String(art.meta.verdict) as RunVerdictName;
    const message = String(art.meta.message ?? '');
    const { verdict, detail } = explain(raw, message, asm, c.exitCode, compareExitCode);
    const rc: ReportCase & { raw: RunVerdictName; message: string; stdoutPath?: string } = { name: c.name, verdict, detail, raw, message };
    if (verdict !== 'assemble-error' && verdict !== 'link-error') rc.stdoutPath = art.paths.stdout;
    results.push(rc);
    // An answer that does not assemble or link fails every case the same way: no need to try the rest.
    if (verdict === 'assemble-error' || verdict === 'link-error') break;
  }
  const failing = results.find((r) => r.verdict !== 'ok');
  const shown = failing ?? results[0]!;
  const multi = pr.cases.length > 1;
  const detail = failing
    ? `${multi ? `case ${failing.name}: ` : ''}${failing.detail}${multi ? ` (${results.filter((r) => r.verdict === 'ok').length}/${pr.cases.length} cases pass)` : ''}${cut}`
    : multi ? `all ${pr.cases.length} cases: ${shown.detail}` : shown.detail;
  const clipOut = (out: string) => (out.length > STDOUT_CLIP ? `${out.slice(0, STDOUT_CLIP)}\n… (${out.length - STDOUT_CLIP} more characters)` : out);
  const cases: ReportCase[] = [];
  for (const r of results) {
    const rc: ReportCase = { name: r.name, verdict: r.verdict, detail: r.detail };
    if (r.stdoutPath) rc.stdout = clipOut((await fsp.readFile(r.stdoutPath)).toString('utf8'));
    cases.push(rc);
  }
  const sample: ReportSample = { ...base, verdict: shown.verdict, asm, detail, case: shown.name, cases };
  const out = cases.find((c) => c.name === shown.name)?.stdout;
  if (out !== undefined) sample.stdout = out;
  return sample;
}

/** validate's verdict → the eval verdict, with a short human reason. */
function explain(v: RunVerdictName, message: string, asm: string, exitCode: number | null | undefined, exitCompared: boolean): { verdict: Verdict; detail: string } {
  switch (v) {
    case 'ok':
      return { verdict: 'ok', detail: exitCompared ? `output and exit code (${exitCode}) match` : 'output matches (exit code not compared)' };
    case 'assemble-error': {
      let detail = classifyToolError(message);
      const nasm = nasmSignals(asm);
      if (nasm.length && !/NASM/i.test(detail)) detail += `; the answer looks like NASM (${nasm[0]})`;
      return { verdict: 'assemble-error', detail };
    }
    case 'link-error':
      return { verdict: 'link-error', detail: classifyToolError(message) };
    case 'crash':
      return { verdict: 'crash', detail: message || 'crashed' };
    case 'timeout':
      return { verdict: 'timeout', detail: message || 'timed out' };
    case 'output-mismatch':
      return { verdict: 'output-mismatch', detail: message };
    case 'output-too-large':
      return { verdict: 'output-mismatch', detail: `printed more than the output limit: ${message}` };
    default:
      return { verdict: 'output-mismatch', detail: `${v}: ${message}` };
  }
}

function pct(x: number | null): string {
  return x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`;
}
