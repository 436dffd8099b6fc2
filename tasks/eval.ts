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
 * For each model, prompt and sample index i < k one chat request is sent (online, ctx.concurrency.llm at
 * a time), with the dataset's system message and the prompt as the user message. The sample index goes
 * into the request as `seed: i` — OpenAI refuses unknown body fields and many compatible servers ignore
 * `n` — so the k samples are k distinct requests, each journaled on its own: a request answered once is
 * never sent again, and adding a model sends only that model's requests.
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
import type { ChatCompletion } from 'openai/resources/chat/completions';
import {
  classifyToolError, extractAsm, nasmSignals, renderReport, stableJson, summarize,
  type ModelPrice, type ReportData, type ReportPrompt, type ReportSample, type Verdict,
} from '../src/eval/index.js';
import { DEFAULT_ENDPOINT, itemKey, runOnline, sha256, type LlmRequest, type LlmResult } from '../src/llm/index.js';
import {
  InfraError, type FileRef, type ItemView, type JsonObject, type PlanContext, type ReduceInput, type ReduceKind,
  type RunContext, type TaskResult,
} from '../src/task-api.js';
import { toolchainFor, toolchainParamsSchema } from './compile.js';
import { SEED_SYSTEM } from './dataset.js';
import { chatCost, chatPrice } from './lib/chat-prices.js';
import {
  clientFor, fmtInt, fmtUsd, journalFor, needCapability, promptTokens, providerConfig, providerSchema, scrub, taskSignal,
  type ChatMessage, type ProviderParams,
} from './lib/llm-params.js';
import { checkAssembly, sandboxLimits, validateKind, type ValidateParams, type Verdict as RunVerdictName } from './validate.js';

/** The model id that means "the id in the `model` input's file" (a finetune target's build/model.txt). */
export const FROM_FINETUNE = 'from-finetune';

interface ModelSpec {
  id: string;
  label?: string;
  provider?: ProviderParams;
}

interface EvalParams {
  models: ModelSpec[];
  split?: 'valid' | 'train' | 'all';
  maxPrompts?: number;
  system?: string;
  temperature?: number;
  max_tokens?: number;
  k?: number;
  mode?: 'online';
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
const DEFAULT_MAX_TOKENS = 4096;
const DEFAULT_TIMEOUT_MS = 5000;
const CHECK_VERSION = '1';
/** Longest stdout kept per sample in the report. */
const STDOUT_CLIP = 4000;

/** One prompt of the evaluation: what is asked and what the answer must do. */
interface EvalPrompt {
  key: string;
  prompt: string;
  cpp: string;
  expected: Buffer;
  expectedHash: string;
  /** The C++ program's exit code, or undefined when the validate record predates it (then only stdout is compared). */
  exitCode: number | null | undefined;
  /** Sizes for --dry-run estimates when a blob is not stored. */
  promptBytes: number;
}

interface ResolvedModel {
  id: string;
  label: string;
  provider: ProviderParams | undefined;
  /** Where the id came from, for the report. */
  origin: string;
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
      max_tokens: { type: 'integer', minimum: 1, description: `Completion token limit per answer (default ${DEFAULT_MAX_TOKENS}).` },
      k: { type: 'integer', minimum: 1, maximum: 100, description: `Samples per (model, prompt), each its own request (default ${DEFAULT_K}); pass@1 and pass@k are reported.` },
      mode: { enum: ['online'], description: 'Only online: concurrent chat completions in the llm pool.' },
      provider: providerSchema,
      ...toolchainParamsSchema,
      stdin: { type: 'string', description: 'Standard input for every run (default empty; use what validate used).' },
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
    // The toolchain's and sandbox's identity, exactly as validate computes it (it also places the sandbox helper).
    return validateKind.prepare!(ctx);
  },

  async plan(input: ReduceInput, ctx: PlanContext): Promise<string[]> {
    const p = ctx.params as unknown as EvalParams;
    const t = ctx.target;
    const ds = await readDatasetReport(input, ctx.read);
    if ('rejected' in ds) return [`${t}: would be rejected: ${ds.rejected}`];
    const { prompts, skipped } = await gatherPrompts(input, ctx.read, p, ds, true);
    const models = await resolveModels(p, input, ctx.read, true);
    const k = p.k ?? DEFAULT_K;
    const system = p.system ?? ds.system;
    const maxTokens = p.max_tokens ?? DEFAULT_MAX_TOKENS;
    const lines: string[] = [];
    const total = models.length * prompts.length * k;
    lines.push(
      `${t}: would send ${fmtInt(total)} requests (${models.length} models × ${prompts.length} prompts of split ${p.split ?? 'valid'} × ${k} samples, online; answers already in the journal would not be sent again)`,
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
        lines.push(`${t}: ${m.label}: ${fmtInt(prompts.length * k)} requests; model id not known until ${m.unknown} is built, so no cost estimate`);
        continue;
      }
      needCapability(providerConfig(m.provider ?? p.provider), 'chat');
      const prompt = pt * k;
      const completion = prompts.length * k * maxTokens;
      const lo = chatCost(m.id, prompt, 0, false);
      const hi = chatCost(m.id, prompt, completion, false);
      maxUsd += hi ?? 0;
      lines.push(
        `${t}: ${m.label}${m.label !== m.id ? ` (${m.id})` : ''}: ${fmtInt(prompts.length * k)} requests, ~${fmtInt(prompt)} prompt tokens, at most ${fmtInt(completion)} completion tokens, ${lo === null || hi === null ? `no price known for ${m.id}` : `est. cost ${fmtUsd(lo)}–${fmtUsd(hi)}`}`,
      );
    }
    if (ctx.flags.maxCost !== undefined && maxUsd > ctx.flags.maxCost) {
      lines.push(`${t}: would refuse: the upper bound ${fmtUsd(maxUsd)} is over --max-cost ${fmtUsd(ctx.flags.maxCost)}`);
    }
    lines.push(`${t}: every answer would then be assembled, linked and run in the sandbox (toolchain ${p.toolchain ?? 'x86_64'}, ${p.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms per run)`);
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
    const ds = await readDatasetReport(input, ctx.read);
    if ('rejected' in ds) return { status: 'rejected', reason: 'no-dataset', message: ds.rejected };
    const { prompts, skipped } = await gatherPrompts(input, ctx.read, p, ds, false);
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
    const k = p.k ?? DEFAULT_K;
    const system = p.system ?? ds.system;

    // ---- ask ----
    const answers = new Map<string, ChatCompletion>();
    const groups = new Map<string, { provider: ProviderParams | undefined; requests: LlmRequest[] }>();
    for (const m of models) {
      const provider = m.provider ?? p.provider;
      const gk = JSON.stringify(provider ?? null);
      const g = groups.get(gk) ?? { provider, requests: [] };
      for (const pr of prompts) for (let i = 0; i < k; i++) g.requests.push(requestFor(p, system, m.id, pr, i));
      groups.set(gk, g);
    }
    const prepared = [];
    for (const g of groups.values()) {
      const cfg = providerConfig(g.provider);
      needCapability(cfg, 'chat');
      prepared.push({ ...g, client: clientFor(cfg), journal: await journalFor(ctx, cfg) });
    }
    const cap = ctx.flags.maxCost;
    if (cap !== undefined) {
      // Only what is not answered yet costs anything; the cap is for all providers together.
      const todo: LlmRequest[] = [];
      for (const g of prepared) {
        const done = await Promise.all(g.requests.map((r) => g.journal.get(itemKey(DEFAULT_ENDPOINT, r))));
        todo.push(...g.requests.filter((_, i) => !done[i]));
      }
      const hi = maxCostOf(todo);
      if (hi > cap) {
        throw new InfraError(
          `${t}: ${todo.length} requests could cost up to ${fmtUsd(hi)}, over --max-cost ${fmtUsd(cap)}; nothing was sent`,
          'raise --max-cost, or lower k, max_tokens, maxPrompts or the number of models',
        );
      }
    }
    for (const g of prepared) {
      const { client, journal } = g;
      let results: Map<string, LlmResult>;
      try {
        results = await runOnline(client, g.requests, {
          journal, concurrency: ctx.concurrency.llm, signal: taskSignal(ctx.signal),
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
    const tc = await toolchainFor(ctx);
    const limits = sandboxLimits({ timeoutMs: p.timeoutMs ?? DEFAULT_TIMEOUT_MS, memoryMB: p.memoryMB });
    const limit = pLimit(Math.max(1, ctx.concurrency.cpu));
    let checked = 0;
    let ran = 0;
    const total = models.length * prompts.length * k;
    const jobs: Promise<ReportSample>[] = [];
    for (const m of models) {
      for (const pr of prompts) {
        for (let i = 0; i < k; i++) {
          const completion = answers.get(customId(m.id, pr.key, i))!;
          jobs.push(limit(async () => {
            const s = await judge(ctx, tc, p, limits, m, pr, i, completion, () => ran++);
            checked++;
            if (checked % Math.max(1, Math.floor(total / 10)) === 0 || checked === total) say(`${checked}/${total} answers judged`);
            return s;
          }));
        }
      }
    }
    const samples = await Promise.all(jobs);
    ctx.log(`${ran} checks run, ${samples.filter((s) => s.verdict !== 'no-asm').length - ran} reused from the cache`);

    // ---- report ----
    const prices: Record<string, ModelPrice> = {};
    for (const m of models) {
      const pr = chatPrice(m.id);
      if (pr) prices[m.id] = { input: pr.input, output: pr.output };
    }
    const metrics = summarize(samples, { k, models: models.map((m) => m.id), prices });
    let newest = 0;
    for (const c of answers.values()) newest = Math.max(newest, typeof c.created === 'number' ? c.created : 0);
    const data: ReportData = {
      title: p.title ?? `asmgraph evaluation: ${t}`,
      // The newest answer's time, not the clock: the same answers give the same report bytes.
      generatedAt: new Date(newest * 1000).toISOString(),
      models: models.map((m) => ({ id: m.id, label: m.label })),
      prompts: prompts.map((pr): ReportPrompt => ({ id: pr.key, prompt: pr.prompt, cpp: pr.cpp, expectedOutput: pr.expected.toString('utf8') })),
      samples,
      metrics,
    };
    const rendered = renderReport(data);
    const settings = {
      split: p.split ?? 'valid', k, system, temperature: p.temperature ?? DEFAULT_TEMPERATURE, max_tokens: p.max_tokens ?? DEFAULT_MAX_TOKENS,
      toolchain: p.toolchain ?? 'x86_64', opt: p.opt ?? 'O0', flags: p.flags ?? [], timeoutMs: p.timeoutMs ?? DEFAULT_TIMEOUT_MS, compareExitCode: p.compareExitCode !== false,
      models: models.map((m) => ({ id: m.id, label: m.label, origin: m.origin })),
      skipped,
    };
    const json = stableJson({ ...JSON.parse(rendered.json), settings });

    const reportDir = p.reportDir ?? 'eval';
    const summary: string[] = [
      `${t}: ${prompts.length} prompts (split ${p.split ?? 'valid'}) × ${k} samples × ${models.length} models; report: ${reportDir}/report.{md,json,html} in the build folder`,
    ];
    const meta: JsonObject = { prompts: prompts.length, samples: samples.length, k };
    const perModel: JsonObject = {};
    for (const mm of metrics.models) {
      const m = models.find((x) => x.id === mm.model)!;
      const verdicts = Object.entries(mm.verdicts).filter(([, n]) => n > 0).map(([v, n]) => `${v} ${n}`).join(', ');
      summary.push(
        `  ${m.label}${m.label !== m.id ? ` (${m.id})` : ''}: pass@1 ${pct(mm.passAt1)}, pass@${k} ${pct(mm.passAtK)}; ` +
          `${mm.counts.matches}/${mm.samples} match, ${mm.promptsSolved}/${mm.prompts} prompts solved; ${verdicts}` +
          `${mm.cost ? `; ${fmtUsd(mm.cost.total)}` : ''}`,
      );
      perModel[m.label] = {
        id: m.id, passAt1: mm.passAt1, passAtK: mm.passAtK, samples: mm.samples, ok: mm.verdicts.ok,
        costUsd: mm.cost ? Math.round(mm.cost.total * 1e6) / 1e6 : null,
      };
    }
    meta.models = perModel;
    meta.summary = summary;
    return { status: 'ok', files: { md: rendered.markdown, json, html: rendered.html }, meta };
  },
};

// ------------------------------------------------------------------------------------------------
// inputs

interface DatasetInfo {
  system: string;
  perExample: { key: string; split: string }[];
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
  const perExample = (report.perExample as { key?: unknown; split?: unknown }[])
    .filter((e) => typeof e.key === 'string')
    .map((e) => ({ key: String(e.key), split: String(e.split ?? '') }));
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
    const expected = lenient ? Buffer.alloc(0) : await read(v.files.expected);
    const exit = v.meta.exitCode;
    prompts.push({
      key,
      prompt: ((await text(promptRef)) ?? '').trim(),
      cpp: lenient ? '' : ((await text(src.files.src)) ?? ''),
      expected,
      expectedHash: v.files.expected.hash,
      exitCode: typeof exit === 'number' || exit === null ? exit : undefined,
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
      out.push({ id: m.id, label: m.label ?? m.id, provider: m.provider, origin: 'params' });
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
    out.push({ id, label: m.label ?? id, provider: m.provider, origin: `${FROM_FINETUNE} (${view.key})` });
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

function requestFor(p: EvalParams, system: string, model: string, pr: EvalPrompt, sample: number): LlmRequest {
  return {
    custom_id: customId(model, pr.key, sample),
    body: {
      model,
      messages: messagesFor(system, pr.prompt),
      max_tokens: p.max_tokens ?? DEFAULT_MAX_TOKENS,
      temperature: p.temperature ?? DEFAULT_TEMPERATURE,
      // The sample index: k distinct requests (and journal entries) rather than `n`, which many servers ignore.
      seed: sample,
    },
  };
}

/** Upper bound in USD of a set of requests (max_tokens each); models without a known price (local servers) count 0. */
function maxCostOf(reqs: LlmRequest[]): number {
  let usd = 0;
  for (const r of reqs) {
    const b = r.body as { model: string; messages: ChatMessage[]; max_tokens: number };
    usd += chatCost(b.model, promptTokens(b.messages), b.max_tokens, false) ?? 0;
  }
  return usd;
}

// ------------------------------------------------------------------------------------------------
// judging one sample

async function judge(
  ctx: RunContext, tc: Awaited<ReturnType<typeof toolchainFor>>, p: EvalParams, limits: ReturnType<typeof sandboxLimits>,
  m: ResolvedModel, pr: EvalPrompt, index: number, completion: ChatCompletion, onRun: () => void,
): Promise<ReportSample> {
  const choice = completion.choices?.[0];
  const answer = choice?.message?.content ?? '';
  const usage = completion.usage ? { input: completion.usage.prompt_tokens ?? 0, output: completion.usage.completion_tokens ?? 0 } : undefined;
  const base = { model: m.id, prompt: pr.key, index, answer, ...(usage ? { usage } : {}) };
  const cut = choice?.finish_reason === 'length' ? ' (the answer was cut off at max_tokens)' : '';
  const ex = extractAsm(answer);
  if (!ex.ok) {
    return { ...base, verdict: 'no-asm', detail: `no assembly found in the answer${cut}` };
  }
  const asm = ex.asm;
  const compareExitCode = p.compareExitCode !== false && pr.exitCode !== undefined;
  const vp: ValidateParams = { toolchain: p.toolchain, stdin: p.stdin, compareExitCode, nondeterminism: p.nondeterminism };
  const art = await ctx.artifact(
    'eval-check',
    {
      asm: sha256(asm), expected: pr.expectedHash, exitCode: compareExitCode ? (pr.exitCode ?? null) : 'ignored',
      stdin: p.stdin ?? '', clock: p.nondeterminism !== false,
      toolchain: ctx.identity.toolchain ?? null, sandbox: ctx.identity.sandbox ?? null,
      limits: limits as JsonObject, version: CHECK_VERSION,
    },
    async (dir) => {
      onRun();
      const r = await checkAssembly(ctx, tc, vp, asm, { stdout: pr.expected, exitCode: pr.exitCode ?? null }, limits);
      await fsp.writeFile(path.join(dir, 'stdout'), r.stdout);
      return { files: ['stdout'], meta: { verdict: r.verdict, message: r.message.slice(0, 8000), exitCode: r.exitCode } };
    },
  );
  const runVerdict = String(art.meta.verdict) as RunVerdictName;
  const message = String(art.meta.message ?? '');
  const { verdict, detail } = explain(runVerdict, message, asm, pr, compareExitCode);
  const sample: ReportSample = { ...base, verdict, asm, detail: `${detail}${verdict === 'ok' ? '' : cut}` };
  if (verdict !== 'assemble-error' && verdict !== 'link-error') {
    const out = (await fsp.readFile(art.paths.stdout)).toString('utf8');
    sample.stdout = out.length > STDOUT_CLIP ? `${out.slice(0, STDOUT_CLIP)}\n… (${out.length - STDOUT_CLIP} more characters)` : out;
  }
  return sample;
}

/** validate's verdict → the eval verdict, with a short human reason. */
function explain(v: RunVerdictName, message: string, asm: string, pr: EvalPrompt, exitCompared: boolean): { verdict: Verdict; detail: string } {
  switch (v) {
    case 'ok':
      return { verdict: 'ok', detail: exitCompared ? `output and exit code (${pr.exitCode}) match` : 'output matches (exit code not compared)' };
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
