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
 * backend `together`: hosted open-weight fine-tuning on Together AI through its SDK (src/llm/together.ts):
 * LoRA (default) or full, SFT with the loss on the assistant turns. Approval (`--yes` or
 * `budget.approve`) is needed before anything is uploaded; the cap is checked against Together's own
 * price estimate for the job, after the (free) upload and before the job is created. The output model
 * name goes to `model.txt`; `eval` reaches it through Together's OpenAI-compatible chat endpoint.
 *
 * backend `command`: a local trainer (TRL, axolotl, ...; examples/train/ ships one) run with bash in a
 * temporary folder, given $TRAIN and $VALID (the same JSONL, which those tools read as a "messages"
 * dataset), $OUT, where it writes the model id or path, and $PROJECT_ROOT. What it prints on stdout
 * is shown live and kept in the node's log; JSON lines of the protocol in tasks/lib/trainer-protocol.ts
 * (progress, loss, checkpoints) are formatted. No API money is spent, so the budget guard does not apply.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  estimateTrainingCost, fineTuneKey, FineTuneError, runFineTune, sha256, TrainingNotAvailableError,
  type CostEstimate, type FineTuneEvent, type Hyperparameters,
} from '../src/llm/index.js';
import {
  createTogetherClient, DEFAULT_TOGETHER_MODEL, runTogetherFineTune, TogetherBudgetError, TogetherConfigError,
  type TogetherEvent, type TogetherTraining,
} from '../src/llm/together.js';
import { newTrainerState, trainerLine } from './lib/trainer-protocol.js';
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
  backend?: 'openai' | 'together' | 'command';
  model?: string;
  suffix?: string;
  hyperparameters?: Hyperparameters & { learning_rate?: number };
  training?: { type?: 'lora' | 'full'; lora?: TogetherTraining['lora']; n_checkpoints?: number; n_evals?: number; max_seq_length?: number };
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
      backend: { enum: ['openai', 'together', 'command'], description: 'openai (default): the OpenAI fine-tuning API (no new jobs from 2027-01-06); together: Together AI (open-weight models, LoRA or full); command: a local trainer (examples/train/).' },
      model: { type: 'string', minLength: 1, description: `Base model (default ${DEFAULT_FINETUNE_MODEL}; for backend together ${DEFAULT_TOGETHER_MODEL}); for backend command it is passed as $BASE_MODEL.` },
      suffix: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,18}$', description: 'Up to 18 characters, part of the fine-tuned model id.' },
      hyperparameters: {
        type: 'object',
        additionalProperties: false,
        properties: {
          n_epochs: autoOr({ type: 'integer', minimum: 1, maximum: 50 }),
          batch_size: autoOr({ type: 'integer', minimum: 1, maximum: 256 }),
          learning_rate_multiplier: autoOr({ type: 'number', exclusiveMinimum: 0, maximum: 10 }),
          learning_rate: { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'backend together (and command, in $HYPERPARAMETERS): the learning rate.' },
        },
      },
      training: {
        type: 'object',
        additionalProperties: false,
        description: 'backend together: how to train.',
        properties: {
          type: { enum: ['lora', 'full'], description: 'lora (default): adapter weights on the frozen model; full: every weight.' },
          lora: {
            type: 'object', additionalProperties: false,
            properties: {
              r: { type: 'integer', minimum: 1, maximum: 512, description: 'LoRA rank (default 16).' },
              alpha: { type: 'integer', minimum: 1, maximum: 1024, description: 'LoRA alpha (default 32).' },
              dropout: { type: 'number', minimum: 0, maximum: 1 },
              trainableModules: { type: 'string', description: 'e.g. "all-linear" or "q_proj,v_proj".' },
            },
          },
          n_checkpoints: { type: 'integer', minimum: 1, description: 'Checkpoints kept during training (one per epoch: n_epochs).' },
          n_evals: { type: 'integer', minimum: 0, description: 'Evaluations on the valid file during training.' },
          max_seq_length: { type: 'integer', minimum: 1, description: "Longest example in tokens (default: the model's maximum)." },
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
    if (p.backend === 'together') {
      const approved = ctx.flags.yes ? '--yes' : p.budget?.approve === true ? 'budget.approve' : null;
      const cap = capOf(p, ctx.flags);
      return [
        `${t}: would upload ${check.examples} examples (~${fmtInt(check.tokens)} tokens) to Together and start a ${p.training?.type ?? 'lora'} fine-tune of ${p.model ?? DEFAULT_TOGETHER_MODEL} (${p.hyperparameters?.n_epochs ?? 'default'} epochs)`,
        `${t}: budget guard: the price is Together's own estimate for the job, asked after the (free) upload and before the job starts; ${approved ? `approved by ${approved}` : 'would refuse: spending needs approval (--yes or budget.approve)'}${cap !== null ? `, cap ${fmtUsd(cap)}` : ''}`,
        `${t}: dry run: nothing uploaded`,
      ];
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
    if (p.backend === 'together') return runTogether(p, ctx, trainPath, valid ? validPath : null, check, say);

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
    TRAIN: trainPath, VALID: validPath ?? '', OUT: out, BASE_MODEL: p.model ?? DEFAULT_FINETUNE_MODEL, PROJECT_ROOT: ctx.projectRoot,
    SUFFIX: p.suffix ?? '', HYPERPARAMETERS: JSON.stringify(p.hyperparameters ?? {}),
  };
  for (const n of p.env ?? []) if (process.env[n] !== undefined) env[n] = process.env[n]!;
  say(`running the local trainer on ${check.examples} examples`);
  const { $ } = await import('zx');
  const proc = $({ cwd: work, env, signal: ctx.signal, quiet: true, nothrow: true })`bash -c ${p.command!}`;
  // The line protocol (tasks/lib/trainer-protocol.ts): each stdout line is shown live and kept in
  // the node's log as it arrives, JSON lines formatted (loss, progress, checkpoints).
  const state = newTrainerState();
  let partial = '';
  const onLine = (l: string) => {
    if (!l.trim()) return;
    const text = scrub(new Error(trainerLine(l, state))).message;
    ctx.log(text);
    ctx.progress(text.slice(0, 300));
  };
  proc.stdout.on('data', (d: Buffer) => {
    const lines = (partial + d.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) onLine(l);
  });
  const res = await proc;
  onLine(partial);
  if (res.stderr) ctx.log(scrub(new Error(res.stderr.trimEnd())).message);
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
      ...(state.lastLoss !== null ? { finalLoss: state.lastLoss } : {}),
      ...(state.lastEvalLoss !== null ? { finalEvalLoss: state.lastEvalLoss } : {}),
      ...(state.steps !== null ? { steps: state.steps } : {}),
      checkpoints: state.checkpoints.length,
      ...(state.checkpoints.length ? { lastCheckpoint: state.checkpoints.at(-1)! } : {}),
      summary: [`${ctx.target}: ${modelId} (local trainer, ${check.examples} examples${state.lastLoss !== null ? `, final loss ${state.lastLoss}` : ''}${state.checkpoints.length ? `, ${state.checkpoints.length} checkpoints` : ''})`],
    },
  };
}

function capOf(p: FinetuneParams, flags: RunFlags): number | null {
  const caps = [flags.maxCost, p.budget?.maxCost].filter((c): c is number => typeof c === 'number');
  return caps.length ? Math.min(...caps) : null;
}

/** backend together: approval first, then Together's estimate against the cap, then the job. */
async function runTogether(
  p: FinetuneParams, ctx: RunContext, trainPath: string, validPath: string | null, check: DatasetCheck, say: (line: string) => void,
): Promise<TaskResult> {
  const model = p.model ?? DEFAULT_TOGETHER_MODEL;
  const approvedBy = ctx.flags.yes ? '--yes' : p.budget?.approve === true ? 'budget.approve' : null;
  const cap = capOf(p, ctx.flags);
  if (!approvedBy) {
    throw new InfraError(
      `fine-tuning ${model} on Together (~${fmtInt(check.tokens)} tokens × ${p.hyperparameters?.n_epochs ?? 'default'} epochs) spends money and needs approval; nothing was uploaded`,
      'approve with --yes (optionally with --max-cost <usd>), or set params.budget.approve: true (and budget.maxCost) in pipeline.yaml',
    );
  }
  const provider = p.provider ?? {};
  let client;
  try {
    client = await createTogetherClient({ baseURL: provider.baseURL, maxRetries: provider.maxRetries, timeoutMs: provider.timeoutMs });
  } catch (err) {
    if (err instanceof TogetherConfigError) throw new InfraError(err.message);
    throw err;
  }
  const journal = await journalFor(ctx, { provider: 'compatible', baseURL: `together:${provider.baseURL ?? process.env.TOGETHER_BASE_URL ?? 'default'}` });
  const epochs = typeof p.hyperparameters?.n_epochs === 'number' ? p.hyperparameters.n_epochs : undefined;
  const batch = typeof p.hyperparameters?.batch_size === 'number' ? p.hyperparameters.batch_size : undefined;
  const training: TogetherTraining = {
    type: p.training?.type ?? 'lora',
    ...(p.training?.lora ? { lora: p.training.lora } : {}),
    ...(epochs !== undefined ? { n_epochs: epochs } : {}),
    ...(p.hyperparameters?.learning_rate !== undefined ? { learning_rate: p.hyperparameters.learning_rate } : {}),
    ...(batch !== undefined ? { batch_size: batch } : {}),
    ...(p.training?.n_checkpoints !== undefined ? { n_checkpoints: p.training.n_checkpoints } : {}),
    ...(p.training?.n_evals !== undefined ? { n_evals: p.training.n_evals } : {}),
    ...(p.training?.max_seq_length !== undefined ? { max_seq_length: p.training.max_seq_length } : {}),
  };
  let jobId: string | null = null;
  let estimate: number | null = null;
  let tokens: number | null = null;
  let price: number | null = null;
  const onEvent = (e: TogetherEvent) => {
    switch (e.type) {
      case 'uploaded': say(`uploaded ${e.file} as ${e.fileId}`); break;
      case 'estimate':
        estimate = e.usd;
        say(`Together's estimate: ${e.usd === null ? 'not available' : fmtUsd(e.usd)}${e.trainTokens !== null ? ` for ${fmtInt(e.trainTokens)} training tokens` : ''}${e.limit !== null ? ` (your limit ${fmtUsd(e.limit)})` : ''}`);
        break;
      case 'created': jobId = e.jobId; say(`job ${e.jobId} created`); break;
      case 'resumed': jobId = e.jobId; say(`resuming job ${e.jobId}`); break;
      case 'status': say(`job ${e.jobId}: ${e.status}`); break;
      case 'metrics':
        say(`step ${e.step ?? '?'}: train loss ${e.trainLoss ?? '?'}${e.validLoss !== null ? `, valid loss ${e.validLoss}` : ''}`);
        break;
      case 'message': if (e.level !== 'info') say(`${e.level}: ${e.message}`); else say(e.message); break;
      case 'done': jobId = e.jobId; tokens = e.tokens; price = e.priceUsd; say(`job ${e.jobId} completed: ${e.model}`); break;
    }
  };
  const approve = (est: { usd: number | null }): string | null => {
    if (cap === null) return null;
    if (est.usd === null) return `Together gave no price estimate for this job, so the cost cap ${fmtUsd(cap)} cannot be checked; nothing was started (the uploaded files are kept for the next run)`;
    if (est.usd > cap) return `Together estimates this job at ${fmtUsd(est.usd)}, over the cost cap ${fmtUsd(cap)}; nothing was started (the uploaded files are kept for the next run)`;
    return null;
  };
  let modelId: string;
  try {
    modelId = await runTogetherFineTune(client, {
      trainPath, ...(validPath ? { validPath } : {}), model, ...(p.suffix ? { suffix: p.suffix } : {}), training, ...(p.seed !== undefined ? { seed: p.seed } : {}),
      journal, pollMs: p.pollMs ?? DEFAULT_POLL_MS, onEvent, signal: taskSignal(ctx.signal), retryFailed: p.retryFailed ?? false, approve,
    });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    if (err instanceof TogetherBudgetError) throw scrub(new InfraError(err.message, 'raise --max-cost / budget.maxCost, or train on fewer examples or epochs'));
    if (err instanceof FineTuneError) throw scrub(new InfraError(err.message, 'fix the dataset or parameters, or set params.retryFailed: true to start a new job'));
    throw scrub(err);
  }
  const meta: JsonObject = {
    backend: 'together', modelId, jobId, baseModel: model, training: training.type, examples: check.examples,
    trainingTokens: check.tokens, costEstimate: estimate,
    summary: [`${ctx.target}: ${modelId} (Together job ${jobId ?? '?'}; ${check.examples} examples, ${training.type}${estimate !== null ? `, estimated ${fmtUsd(estimate)}` : ''}${price !== null ? `, billed ${fmtUsd(price)}` : ''})`],
  };
  if (tokens !== null) meta.trainedTokens = tokens;
  return { status: 'ok', files: { model: `${modelId}\n` }, meta };
}
