/**
 * `finetune`: trains a model on a dataset item (files `train` and `valid`, chat-messages JSONL)
 * and writes the resulting model id to `model.txt`.
 *
 * backend `openai`: uploads the files and runs a supervised fine-tuning job. Before anything is
 * uploaded the dataset is re-checked and the cost estimated (tokens × epochs × price), and the budget
 * guard decides: nothing is spent without `--yes` or `budget.approve: true`, and never above
 * `--max-cost` / `budget.maxCost`. File ids and the job id are journaled in the target's persistent
 * folder as soon as they exist, so the same dataset and parameters never start a second job, even
 * after a crash; the action cache keeps a finished node from running again.
 *
 * backend `command`: a local trainer (TRL, axolotl, ...) run with bash, given $TRAIN and $VALID
 * (the same JSONL, which those tools read as a "messages" dataset) and $OUT, where it writes the
 * model id or path. No API money is spent, so the budget guard does not apply.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  estimateTrainingCost, fineTuneKey, FineTuneError, runFineTune, sha256, TrainingNotAvailableError,
  type CostEstimate, type FineTuneEvent, type Hyperparameters,
} from '../src/llm/index.js';
import {
  InfraError, type ItemView, type JsonObject, type PlanContext, type ReduceInput, type ReduceKind, type RunContext,
  type RunFlags, type TaskResult,
} from '../src/task-api.js';
import {
  clientFor, DEFAULT_POLL_MS, fmtInt, fmtUsd, journalFor, needCapability, pollMsSchema, providerConfig,
  providerSchema, scrub, taskSignal, tokensOf, type ProviderParams,
} from './lib/llm-params.js';

export const DEFAULT_FINETUNE_MODEL = 'gpt-4o-mini-2024-07-18';
const MIN_EXAMPLES = 10;
const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'function']);

interface FinetuneParams {
  backend?: 'openai' | 'command';
  model?: string;
  suffix?: string;
  hyperparameters?: Hyperparameters;
  seed?: number;
  provider?: ProviderParams;
  budget?: { maxCost?: number; approve?: boolean };
  command?: string;
  env?: string[];
  pollMs?: number;
  retryFailed?: boolean;
}

const autoOr = (schema: JsonObject): JsonObject => ({ oneOf: [{ const: 'auto' }, schema] });

export const finetuneKind: ReduceKind = {
  name: 'finetune',
  version: '1',
  mode: 'reduce',
  pool: 'llm',
  description: 'Fine-tunes a model on a dataset (OpenAI fine-tuning API or a local trainer command); writes the model id.',
  reads: { from: ['train', 'valid'] },
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      backend: { enum: ['openai', 'command'], description: 'openai (default): the fine-tuning API; command: a local trainer.' },
      model: { type: 'string', minLength: 1, description: `Base model (default ${DEFAULT_FINETUNE_MODEL}); for backend command it is passed as $BASE_MODEL.` },
      suffix: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,18}$', description: 'Up to 18 characters, part of the fine-tuned model id.' },
      hyperparameters: {
        type: 'object',
        additionalProperties: false,
        properties: {
          n_epochs: autoOr({ type: 'integer', minimum: 1, maximum: 50 }),
          batch_size: autoOr({ type: 'integer', minimum: 1, maximum: 256 }),
          learning_rate_multiplier: autoOr({ type: 'number', exclusiveMinimum: 0, maximum: 10 }),
        },
      },
      seed: { type: 'integer', minimum: 0 },
      provider: providerSchema,
      budget: {
        type: 'object',
        additionalProperties: false,
        description: 'Spending guard for backend openai.',
        properties: {
          maxCost: { type: 'number', minimum: 0, description: 'Never start a job estimated above this many USD (also --max-cost; the lower wins).' },
          approve: { type: 'boolean', description: 'true: spending up to maxCost is approved here, without --yes.' },
        },
      },
      command: { type: 'string', minLength: 1, description: 'backend command: bash command that trains on $TRAIN/$VALID and writes the model id or path to $OUT.' },
      env: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }, description: 'backend command: environment variables passed to the trainer (their values enter the key, hashed).' },
      pollMs: pollMsSchema,
      retryFailed: { type: 'boolean', description: 'After the recorded job failed or was cancelled, start a new one (default: report the failure).' },
    },
    if: { properties: { backend: { const: 'command' } }, required: ['backend'] },
    then: { required: ['command'] },
  },
  env: (params) => ((params as unknown as FinetuneParams).env ?? []),
  outputs: () => [{ name: 'model', file: 'model.txt' }],

  async plan(input: ReduceInput, ctx: PlanContext): Promise<string[]> {
    const p = ctx.params as unknown as FinetuneParams;
    const t = ctx.target;
    const ds = pickDataset(input);
    if ('rejected' in ds) return [`${t}: would be rejected: ${ds.rejected}`];
    let train: Buffer;
    try {
      train = await ctx.read(ds.view.files.train!);
    } catch {
      return [`${t}: would fine-tune on ${ds.view.key}, which is not stored yet: build it first for a cost estimate`];
    }
    const check = checkDataset(train, 'train');
    if (check.problems.length) return [`${t}: would be rejected: ${check.problems.join('; ')}`];
    if ((p.backend ?? 'openai') === 'command') {
      return [`${t}: would run the local trainer on ${check.examples} examples (~${fmtInt(check.tokens)} tokens): ${p.command}; no API cost`, `${t}: dry run: nothing run`];
    }
    needCapability(providerConfig(p.provider), 'fine-tune');
    const est = estimate(p, check);
    const v = guard(est, p, ctx.flags);
    return [
      `${t}: ${check.examples} examples, ~${fmtInt(check.tokens)} training tokens × ${est.epochs} epochs = ${fmtInt(est.billedTokens)} billed tokens; ${describeCost(est)}`,
      `${t}: budget guard: ${v.ok ? `allowed (${v.why})` : `would refuse: ${v.message}`}`,
      `${t}: dry run: nothing uploaded`,
    ];
  },

  async run(input: ReduceInput, ctx: RunContext): Promise<TaskResult> {
    const p = ctx.params as unknown as FinetuneParams;
    const t = ctx.target;
    const ds = pickDataset(input);
    if ('rejected' in ds) return { status: 'rejected', reason: 'invalid-dataset', message: ds.rejected };
    const train = await ctx.read(ds.view.files.train!);
    const valid = ds.view.files.valid && ds.view.files.valid.size > 0 ? await ctx.read(ds.view.files.valid) : null;
    const check = checkDataset(train, 'train');
    if (valid) check.problems.push(...checkDataset(valid, 'valid', 1).problems);
    if (check.problems.length) return { status: 'rejected', reason: 'invalid-dataset', message: check.problems.join('\n') };

    const dir = await ctx.tmpdir();
    const trainPath = path.join(dir, 'train.jsonl');
    const validPath = path.join(dir, 'valid.jsonl');
    await fsp.writeFile(trainPath, train);
    if (valid) await fsp.writeFile(validPath, valid);
    const say = (line: string) => {
      ctx.log(line);
      ctx.progress(line);
    };
    if ((p.backend ?? 'openai') === 'command') return runCommand(p, ctx, dir, trainPath, valid ? validPath : null, check, say);

    const cfg = providerConfig(p.provider);
    needCapability(cfg, 'fine-tune');
    const est = estimate(p, check);
    const v = guard(est, p, ctx.flags);
    if (!v.ok) throw new InfraError(`${v.message}; nothing was uploaded`, v.hint);
    say(`${check.examples} examples, ~${fmtInt(check.tokens)} tokens × ${est.epochs} epochs; ${describeCost(est)}; ${v.why}`);

    const client = clientFor(cfg);
    const journal = await journalFor(ctx, cfg);
    const model = p.model ?? DEFAULT_FINETUNE_MODEL;
    const hyperparameters = p.hyperparameters ?? {};
    let jobId: string | undefined;
    let trainedTokens: number | null = null;
    const onEvent = (e: FineTuneEvent) => {
      switch (e.type) {
        case 'uploaded': say(`uploaded ${e.file} as ${e.fileId}`); break;
        case 'created': jobId = e.jobId; say(`job ${e.jobId} created`); break;
        case 'resumed': jobId = e.jobId; say(`resuming job ${e.jobId}`); break;
        case 'status': say(`job ${e.jobId}: ${e.status}`); break;
        case 'metrics':
          say(`step ${e.step ?? '?'}: train loss ${e.trainLoss ?? '?'}${e.validLoss !== null ? `, valid loss ${e.validLoss}` : ''}`);
          break;
        case 'message': if (e.level !== 'info') say(`${e.level}: ${e.message}`); else ctx.log(e.message); break;
        case 'done': jobId = e.jobId; trainedTokens = e.trainedTokens; say(`job ${e.jobId} succeeded: ${e.model}`); break;
      }
    };
    let modelId: string;
    try {
      modelId = await runFineTune(client, {
        trainPath, validPath: valid ? validPath : undefined, model, suffix: p.suffix, hyperparameters, seed: p.seed,
        journal, pollMs: p.pollMs ?? DEFAULT_POLL_MS, onEvent, signal: taskSignal(ctx.signal), retryFailed: p.retryFailed ?? false,
      });
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      if (err instanceof TrainingNotAvailableError) {
        throw new InfraError(`${err.message}`, `set params.backend: command with a local trainer in params.command (see docs/openai.md)`);
      }
      if (err instanceof FineTuneError) {
        throw scrub(new InfraError(`${err.message}`, 'fix the dataset or parameters, or set params.retryFailed: true to start a new job'));
      }
      throw scrub(err);
    }
    if (!jobId) {
      // Resumed a job that had already succeeded: its record is in the journal.
      const base = fineTuneKey({
        train: sha256(train), valid: valid ? sha256(valid) : null, model, suffix: p.suffix ?? null, hyperparameters, seed: p.seed ?? null,
      });
      for (let attempt = 1; attempt < 100; attempt++) {
        const rec = (await journal.get(`${base}/${attempt}`)) as { job_id?: string; fine_tuned_model?: string; trained_tokens?: number | null } | undefined;
        if (!rec) break;
        if (rec.fine_tuned_model === modelId) {
          jobId = rec.job_id;
          trainedTokens = rec.trained_tokens ?? null;
        }
      }
    }
    const meta: JsonObject = {
      backend: 'openai', modelId, jobId: jobId ?? null, baseModel: model, examples: check.examples,
      trainingTokens: check.tokens, epochs: est.epochs, costEstimate: est.usd,
      summary: [`${t}: ${modelId} (job ${jobId ?? '?'}; ${check.examples} examples, estimated ${est.usd !== null ? fmtUsd(est.usd) : 'unknown cost'})`],
    };
    if (trainedTokens !== null) meta.trainedTokens = trainedTokens;
    return { status: 'ok', files: { model: `${modelId}\n` }, meta };
  },
};

/** The single dataset item among the inputs. */
function pickDataset(input: ReduceInput): { view: ItemView } | { rejected: string } {
  const views = Object.values(input.inputs).flat();
  const withTrain = views.filter((v) => v.status === 'ok' && v.files.train);
  if (withTrain.length === 1) return { view: withTrain[0]! };
  if (withTrain.length > 1) {
    throw new InfraError(`expected one dataset item with a "train" file, got ${withTrain.length} (${withTrain.map((v) => v.key).join(', ')})`);
  }
  const rejected = views.find((v) => v.status === 'rejected');
  if (rejected) return { rejected: `the dataset ${rejected.key} was rejected: ${rejected.reason ?? ''}` };
  throw new InfraError(`"from" must be a dataset target whose item has a "train" file (and optionally "valid")`);
}

interface DatasetCheck {
  examples: number;
  /** Training tokens (o200k estimate: 3 per message + role + content, + 3 per example). */
  tokens: number;
  problems: string[];
}

/** The checks OpenAI runs on upload (cookbook data-prep rules), so a bad file costs nothing. */
export function checkDataset(bytes: Buffer, name: string, minExamples = MIN_EXAMPLES): DatasetCheck {
  const lines = bytes.toString('utf8').split('\n');
  const problems: string[] = [];
  let examples = 0;
  let tokens = 0;
  const problem = (msg: string) => {
    if (problems.length < 5) problems.push(`${name}: ${msg}`);
    else if (problems.length === 5) problems.push(`${name}: ...`);
  };
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return;
    examples++;
    const at = `line ${i + 1}`;
    let ex: unknown;
    try {
      ex = JSON.parse(raw);
    } catch {
      problem(`${at} is not valid JSON`);
      return;
    }
    const messages = (ex as { messages?: unknown } | null)?.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      problem(`${at} has no "messages" list`);
      return;
    }
    let assistant = false;
    let n = 3;
    for (const m of messages as Record<string, unknown>[]) {
      const role = m?.role;
      if (typeof role !== 'string' || !ROLES.has(role)) {
        problem(`${at}: unrecognized role ${JSON.stringify(role)}`);
        return;
      }
      const content = m.content;
      if (typeof content !== 'string' && !(role === 'assistant' && (m.tool_calls || m.function_call))) {
        problem(`${at}: a ${role} message has no text content`);
        return;
      }
      if (role === 'assistant') assistant = true;
      n += 3 + tokensOf(role) + (typeof content === 'string' ? tokensOf(content) : 0);
    }
    if (!assistant) {
      problem(`${at} has no assistant message`);
      return;
    }
    tokens += n;
  });
  if (examples < minExamples) problem(`${examples} example${examples === 1 ? '' : 's'}; fine-tuning needs at least ${minExamples}`);
  return { examples, tokens, problems };
}

function estimate(p: FinetuneParams, check: DatasetCheck): CostEstimate {
  return estimateTrainingCost({
    trainingTokens: check.tokens, epochs: p.hyperparameters?.n_epochs ?? 'auto', model: p.model ?? DEFAULT_FINETUNE_MODEL, examples: check.examples,
  });
}

function describeCost(est: CostEstimate): string {
  return est.usd === null
    ? `no known training price for ${est.model}`
    : `estimated cost ${fmtUsd(est.usd)} (${est.priceModel} at $${est.usdPerMillion}/1M tokens)`;
}

type Verdict = { ok: true; why: string } | { ok: false; message: string; hint: string };

/**
 * The spending guard: an approval (`--yes` or `budget.approve: true`) is always needed, and the
 * estimate must not exceed the lowest of `--max-cost` and `budget.maxCost`.
 */
export function guard(est: CostEstimate, p: FinetuneParams, flags: RunFlags): Verdict {
  const caps = [flags.maxCost, p.budget?.maxCost].filter((c): c is number => typeof c === 'number');
  const cap = caps.length ? Math.min(...caps) : null;
  const what = `fine-tuning ${est.model} on ~${fmtInt(est.trainingTokens)} tokens × ${est.epochs} epochs`;
  const cost = est.usd === null ? 'has no known price' : `is estimated at ${fmtUsd(est.usd)}`;
  if (cap !== null && est.usd === null) {
    return { ok: false, message: `${what} ${cost}, so the cost cap ${fmtUsd(cap)} cannot be checked`, hint: 'add the model to src/llm/prices.json, or remove --max-cost/budget.maxCost and approve with --yes' };
  }
  if (cap !== null && est.usd! > cap) {
    return { ok: false, message: `${what} ${cost}, over the cost cap ${fmtUsd(cap)}`, hint: 'raise --max-cost / budget.maxCost, or train on fewer examples or epochs' };
  }
  const approvedBy = flags.yes ? '--yes' : p.budget?.approve === true ? 'budget.approve' : null;
  if (!approvedBy) {
    return {
      ok: false,
      message: `${what} ${cost}; spending needs approval`,
      hint: 'approve with --yes (optionally with --max-cost <usd>), or set params.budget.approve: true (and budget.maxCost) in pipeline.yaml',
    };
  }
  return { ok: true, why: `approved by ${approvedBy}${cap !== null ? `, within the cap ${fmtUsd(cap)}` : ''}` };
}

async function runCommand(
  p: FinetuneParams, ctx: RunContext, dir: string, trainPath: string, validPath: string | null, check: DatasetCheck,
  say: (line: string) => void,
): Promise<TaskResult> {
  const work = path.join(dir, 'work');
  await fsp.mkdir(work);
  const out = path.join(dir, 'out.txt');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? work, LANG: process.env.LANG ?? 'C.UTF-8',
    TRAIN: trainPath, VALID: validPath ?? '', OUT: out, BASE_MODEL: p.model ?? DEFAULT_FINETUNE_MODEL,
    SUFFIX: p.suffix ?? '', HYPERPARAMETERS: JSON.stringify(p.hyperparameters ?? {}),
  };
  for (const n of p.env ?? []) if (process.env[n] !== undefined) env[n] = process.env[n]!;
  say(`running the local trainer on ${check.examples} examples`);
  const { $ } = await import('zx');
  const proc = $({ cwd: work, env, signal: ctx.signal, quiet: true, nothrow: true })`bash -c ${p.command!}`;
  let partial = '';
  proc.stdout.on('data', (d: Buffer) => {
    const lines = (partial + d.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) ctx.progress(l.trimEnd().slice(0, 300));
  });
  const res = await proc;
  if (res.stdout) ctx.log(res.stdout.trimEnd());
  if (res.stderr) ctx.log(res.stderr.trimEnd());
  if (ctx.signal.aborted) throw new Error('interrupted');
  if (res.exitCode !== 0) {
    throw scrub(new InfraError(`the trainer exited with code ${res.exitCode}: ${res.stderr.trim().split('\n').slice(-5).join('\n')}`));
  }
  let modelId = '';
  try {
    modelId = (await fsp.readFile(out, 'utf8')).trim();
  } catch {
    /* reported below */
  }
  if (!modelId) throw new InfraError(`the trainer did not write a model id or path to $OUT`);
  return {
    status: 'ok',
    files: { model: `${modelId}\n` },
    meta: {
      backend: 'command', modelId, jobId: null, baseModel: p.model ?? DEFAULT_FINETUNE_MODEL, examples: check.examples,
      trainingTokens: check.tokens, costEstimate: 0,
      summary: [`${ctx.target}: ${modelId} (local trainer, ${check.examples} examples)`],
    },
  };
}
