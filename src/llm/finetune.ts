/**
 * Cost estimate, budget guard and a resumable supervised fine-tuning run on the OpenAI API.
 *
 * Journal key: llm/finetune/<sha256(canonical {train, valid, model, suffix, hyperparameters, seed})>/<attempt>
 * where train/valid are the sha256 of the file bytes. The record is written right after the upload
 * (file ids) and again right after `jobs.create` (job id), before polling; a second call with the same
 * inputs resumes polling that job or returns the recorded model id, and never creates a second job.
 */
import { readFile } from 'node:fs/promises';
import OpenAI, { toFile } from 'openai';
import type { Journal } from './journal.js';
import { errorMessage, hashJson, sha256, sleep, type Json } from './json.js';
import { redactFor, scrubError } from './provider.js';

export { DEFAULT_PRICES, autoEpochs, estimateTrainingCost, findPrice } from './cost.js';
export type { CostEstimate, Epochs, PriceTable } from './cost.js';
import type { CostEstimate, Epochs } from './cost.js';

export class BudgetError extends Error {
  constructor(message: string, readonly estimate: CostEstimate) {
    super(message);
    this.name = 'BudgetError';
  }
}

const fmt = (usd: number) => `$${usd.toFixed(2)}`;

/**
 * The spending guard before a paid fine-tune. `maxCost` is a hard cap that `yes` does not override;
 * without a cap, `yes` must confirm the spend. Returns a BudgetError when not allowed, else null.
 */
export function checkBudget(opts: { estimate: CostEstimate; maxCost?: number | null; yes?: boolean }): BudgetError | null {
  const { estimate, maxCost, yes } = opts;
  const what = `fine-tuning ${estimate.model} on ${estimate.trainingTokens} tokens x ${estimate.epochs} epochs`;
  if (estimate.usd === null) {
    if (maxCost != null) return new BudgetError(`${what}: no known price for '${estimate.model}', so max_cost cannot be checked; add it to prices.json or confirm with --yes and no max_cost`, estimate);
    if (!yes) return new BudgetError(`${what}: no known price for '${estimate.model}'; confirm with --yes`, estimate);
    return null;
  }
  if (maxCost != null) {
    if (estimate.usd > maxCost) return new BudgetError(`${what} is estimated at ${fmt(estimate.usd)}, over max_cost ${fmt(maxCost)}`, estimate);
    return null;
  }
  if (!yes) return new BudgetError(`${what} is estimated at ${fmt(estimate.usd)}; set max_cost or confirm with --yes`, estimate);
  return null;
}

/** OpenAI refused to create the job: self-serve fine-tuning is not available to this organization. */
export class TrainingNotAvailableError extends Error {
  readonly code = 'training_not_available';
  constructor(readonly apiMessage: string) {
    super(
      `OpenAI refused to create a fine-tuning job (403 training_not_available: ${apiMessage}). ` +
        `OpenAI is winding down self-serve fine-tuning and this organization can no longer start jobs; ` +
        `use the 'command' fine-tune backend (a local trainer) instead.`,
    );
    this.name = 'TrainingNotAvailableError';
  }
}

export class FineTuneError extends Error {
  constructor(message: string, readonly jobId?: string, readonly status?: string) {
    super(message);
    this.name = 'FineTuneError';
  }
}

export interface Hyperparameters {
  n_epochs?: Epochs;
  batch_size?: number | 'auto';
  learning_rate_multiplier?: number | 'auto';
}

export type FineTuneEvent =
  | { type: 'uploaded'; file: 'train' | 'valid'; fileId: string }
  | { type: 'created'; jobId: string }
  | { type: 'resumed'; jobId: string }
  | { type: 'status'; jobId: string; status: string }
  | { type: 'metrics'; jobId: string; step: number | null; trainLoss: number | null; validLoss: number | null; data: Record<string, unknown> }
  | { type: 'message'; jobId: string; level: string; message: string }
  | { type: 'done'; jobId: string; model: string; trainedTokens: number | null };

export interface FineTuneOptions {
  trainPath: string;
  validPath?: string;
  model: string;
  /** Up to 18 characters, part of the model id. */
  suffix?: string;
  hyperparameters?: Hyperparameters;
  seed?: number;
  journal: Journal;
  /** Milliseconds between polls (default 30 s). */
  pollMs?: number;
  onEvent?: (e: FineTuneEvent) => void;
  /** Aborting stops polling; the job keeps running and a later call resumes it. */
  signal?: AbortSignal;
  /** After a recorded job failed or was cancelled: create a new one instead of throwing (default false). */
  retryFailed?: boolean;
}

interface JobRecord {
  training_file?: string;
  validation_file?: string | null;
  job_id?: string;
  status?: string;
  fine_tuned_model?: string | null;
  trained_tokens?: number | null;
  error?: string | null;
}

const MIN_EXAMPLES = 10;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

function countExamples(bytes: Buffer): number {
  return bytes.toString('utf8').split('\n').filter((l) => l.trim() !== '').length;
}

export function fineTuneKey(k: { train: string; valid: string | null; model: string; suffix: string | null; hyperparameters: Hyperparameters; seed: number | null }): string {
  return `llm/finetune/${hashJson(k)}`;
}

/**
 * Uploads the files, creates a supervised fine-tuning job (recorded in the journal at once), polls it
 * and its events (loss from `metrics` events goes to `onEvent`) and returns `fine_tuned_model`.
 */
export async function runFineTune(client: OpenAI, opts: FineTuneOptions): Promise<string> {
  try {
    return await runFineTuneInner(client, opts);
  } catch (err) {
    throw scrubError(client, err);
  }
}

async function runFineTuneInner(client: OpenAI, opts: FineTuneOptions): Promise<string> {
  const { journal, signal, onEvent, model } = opts;
  const pollMs = opts.pollMs ?? 30_000;
  const suffix = opts.suffix ?? null;
  if (suffix !== null && (suffix.length > 18 || !/^[A-Za-z0-9_-]*$/.test(suffix))) {
    throw new Error(`suffix '${suffix}' must be at most 18 characters of letters, digits, '-' and '_'`);
  }
  const hyperparameters = opts.hyperparameters ?? {};
  signal?.throwIfAborted();

  const train = await readFile(opts.trainPath);
  const valid = opts.validPath ? await readFile(opts.validPath) : null;
  const n = countExamples(train);
  if (n < MIN_EXAMPLES) throw new Error(`${opts.trainPath} has ${n} examples; OpenAI fine-tuning needs at least ${MIN_EXAMPLES}`);

  const base = fineTuneKey({ train: sha256(train), valid: valid ? sha256(valid) : null, model, suffix, hyperparameters, seed: opts.seed ?? null });
  // Find the latest attempt; attempts > 1 exist only after retryFailed.
  let attempt = 1;
  let rec: JobRecord | undefined;
  for (;;) {
    const v = (await journal.get(`${base}/${attempt}`)) as JobRecord | undefined;
    if (!v) break;
    rec = v;
    const next = await journal.get(`${base}/${attempt + 1}`);
    if (!next) break;
    attempt++;
  }
  if (rec?.status && (rec.status === 'failed' || rec.status === 'cancelled')) {
    if (!opts.retryFailed) throw new FineTuneError(`fine-tuning job ${rec.job_id} ${rec.status}${rec.error ? `: ${rec.error}` : ''} (pass retryFailed to start a new job)`, rec.job_id, rec.status);
    attempt++;
    rec = undefined;
  }
  const key = `${base}/${attempt}`;
  const record: JobRecord = rec ?? {};
  const save = () => journal.put(key, record as unknown as Json);

  if (record.status === 'succeeded' && record.fine_tuned_model) return record.fine_tuned_model;

  if (!record.job_id) {
    if (!record.training_file) {
      const t = await client.files.create({ file: await toFile(train, 'train.jsonl', { type: 'application/jsonl' }), purpose: 'fine-tune' }, { signal });
      onEvent?.({ type: 'uploaded', file: 'train', fileId: t.id });
      let v: string | null = null;
      if (valid) {
        const f = await client.files.create({ file: await toFile(valid, 'valid.jsonl', { type: 'application/jsonl' }), purpose: 'fine-tune' }, { signal });
        onEvent?.({ type: 'uploaded', file: 'valid', fileId: f.id });
        v = f.id;
      }
      record.training_file = t.id;
      record.validation_file = v;
      await save();
    }
    signal?.throwIfAborted();
    let job: OpenAI.FineTuning.Jobs.FineTuningJob;
    try {
      job = await client.fineTuning.jobs.create(
        {
          model,
          training_file: record.training_file,
          ...(record.validation_file ? { validation_file: record.validation_file } : {}),
          ...(suffix ? { suffix } : {}),
          ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
          method: { type: 'supervised', supervised: { hyperparameters } },
        },
        { signal },
      );
    } catch (err) {
      if (err instanceof OpenAI.APIError && err.status === 403 && (err.code === 'training_not_available' || /training_not_available/.test(err.message))) {
        throw new TrainingNotAvailableError(redactFor(client, (err.error as { message?: string } | undefined)?.message ?? err.message));
      }
      throw err;
    }
    record.job_id = job.id;
    record.status = job.status;
    await save(); // before polling: a second call resumes this job
    onEvent?.({ type: 'created', jobId: job.id });
  } else {
    onEvent?.({ type: 'resumed', jobId: record.job_id });
  }

  const jobId = record.job_id!;
  const seen = new Set<string>();
  let lastStatus = '';
  for (;;) {
    signal?.throwIfAborted();
    const job = await client.fineTuning.jobs.retrieve(jobId, { signal });
    if (job.status !== lastStatus) {
      lastStatus = job.status;
      onEvent?.({ type: 'status', jobId, status: job.status });
    }
    await reportEvents(client, jobId, seen, onEvent, signal);
    if (TERMINAL.has(job.status)) {
      record.status = job.status;
      record.fine_tuned_model = job.fine_tuned_model;
      record.trained_tokens = job.trained_tokens ?? null;
      record.error = job.error ? redactFor(client, `${job.error.code}: ${job.error.message}`) : null;
      await save();
      if (job.status === 'succeeded' && job.fine_tuned_model) {
        onEvent?.({ type: 'done', jobId, model: job.fine_tuned_model, trainedTokens: job.trained_tokens ?? null });
        return job.fine_tuned_model;
      }
      throw new FineTuneError(`fine-tuning job ${jobId} ${job.status}${record.error ? `: ${record.error}` : ''}`, jobId, job.status);
    }
    if (record.status !== job.status) {
      record.status = job.status;
      await save();
    }
    await sleep(pollMs, signal);
  }
}

/** Reports events not seen yet, oldest first (the API lists newest first). */
async function reportEvents(
  client: OpenAI,
  jobId: string,
  seen: Set<string>,
  onEvent: FineTuneOptions['onEvent'],
  signal?: AbortSignal,
): Promise<void> {
  const fresh: OpenAI.FineTuning.Jobs.FineTuningJobEvent[] = [];
  try {
    for await (const ev of client.fineTuning.jobs.listEvents(jobId, { limit: 100 }, { signal })) {
      if (seen.has(ev.id)) break;
      fresh.push(ev);
    }
  } catch (err) {
    if (signal?.aborted) throw err;
    onEvent?.({ type: 'message', jobId, level: 'warn', message: `could not list events: ${redactFor(client, errorMessage(err))}` });
    return;
  }
  for (const ev of fresh.reverse()) {
    seen.add(ev.id);
    if (ev.type === 'metrics') {
      const data = (ev.data ?? {}) as Record<string, unknown>;
      const num = (v: unknown) => (typeof v === 'number' ? v : null);
      onEvent?.({ type: 'metrics', jobId, step: num(data.step), trainLoss: num(data.train_loss), validLoss: num(data.valid_loss), data });
    } else {
      onEvent?.({ type: 'message', jobId, level: ev.level, message: ev.message });
    }
  }
}
