/**
 * Hosted open-weight fine-tuning on Together AI through its official SDK (`together-ai`), resumable
 * like the OpenAI run in finetune.ts, with Together's own price estimate as the budget check.
 *
 * Journal key: llm/together-finetune/<sha256(canonical {train, valid, model, suffix, training, seed})>/<attempt>
 * (train/valid: sha256 of the file bytes). The record is written right after each upload (file ids),
 * after the price estimate, and right after `fineTuning.create` (job id), before polling: a second call
 * with the same inputs never uploads or creates twice; it resumes polling or returns the recorded model.
 *
 * Order of work: the SDK's own local file check → upload (free) → `fineTuning.estimatePrice` (Together's
 * price for exactly this job) → the caller's `approve(estimate)` decides → create → poll retrieve,
 * listEvents and listMetrics (loss) until completed / error / cancelled → `model_output_name`.
 *
 * The SDK is loaded through require (its CommonJS build): the ESM build's upload and file check
 * reach node:fs through `require`, which is undefined in an ES module, and fail ("resolve is not a function").
 *
 * Uploads do not use the SDK's `files.upload`: in together-ai 0.52 it cannot work on Node (its PUT
 * sends a read stream without `duplex: 'half'`, which Node's fetch refuses; it also posts to
 * TOGETHER_API_BASE_URL instead of the client's baseURL — together-typescript PR #249, open). `uploadFile`
 * makes the same two requests (POST /files → 302 to a signed URL with `x-together-file-id`, then PUT
 * the bytes) against the client's baseURL, with retries, and reads the file back through the SDK.
 */
import type { Together } from 'together-ai';
import type { Journal } from './journal.js';
import { errorMessage, hashJson, sha256, sleep, type Json } from './json.js';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { FineTuneError } from './finetune.js';
import { redactFor, scrubError, type Env } from './provider.js';

export const TOGETHER_DEFAULT_BASE_URL = 'https://api.together.ai/v1';
export const DEFAULT_TOGETHER_MODEL = 'Qwen/Qwen3-8B';

export class TogetherConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TogetherConfigError';
  }
}

/** Together refused to start the job on its own estimate (credit limit) or the caller's approval. */
export class TogetherBudgetError extends Error {
  constructor(message: string, readonly estimateUsd: number | null) {
    super(message);
    this.name = 'TogetherBudgetError';
  }
}

export interface TogetherConfig {
  baseURL?: string;
  maxRetries?: number;
  timeoutMs?: number;
}

const requireCjs = createRequire(import.meta.url);
/** A module of the SDK's CommonJS build (see the header). */
function loadSdk<T>(id: string): T {
  return requireCjs(id) as T;
}

const norm = (u: string) => u.replace(/\/+$/, '');

/** The API base a client for `cfg` talks to. */
export function togetherBaseURL(cfg: TogetherConfig, env: Env = process.env): string {
  return norm(cfg.baseURL ?? (env.TOGETHER_BASE_URL?.trim() || TOGETHER_DEFAULT_BASE_URL));
}

/** A Together SDK client. The key comes only from TOGETHER_API_KEY (TogetherConfigError without it). */
export async function createTogetherClient(cfg: TogetherConfig, env: Env = process.env): Promise<Together> {
  const apiKey = env.TOGETHER_API_KEY?.trim();
  if (!apiKey) throw new TogetherConfigError('TOGETHER_API_KEY is not set in the environment');
  const baseURL = togetherBaseURL(cfg, env);
  const TogetherClient = loadSdk<typeof import('together-ai')>('together-ai').default;
  return new TogetherClient({
    apiKey, baseURL, maxRetries: cfg.maxRetries ?? 5, ...(cfg.timeoutMs !== undefined ? { timeout: cfg.timeoutMs } : {}),
    logLevel: 'off',
  });
}

export interface TogetherTraining {
  /** LoRA adapters (default) or every weight. */
  type: 'lora' | 'full';
  lora?: { r?: number; alpha?: number; dropout?: number; trainableModules?: string };
  n_epochs?: number;
  learning_rate?: number;
  batch_size?: number | 'max';
  n_checkpoints?: number;
  n_evals?: number;
  max_seq_length?: number;
}

export type TogetherEvent =
  | { type: 'uploaded'; file: 'train' | 'valid'; fileId: string }
  | { type: 'estimate'; usd: number | null; trainTokens: number | null; allowed: boolean | null; limit: number | null }
  | { type: 'created'; jobId: string }
  | { type: 'resumed'; jobId: string }
  | { type: 'status'; jobId: string; status: string }
  | { type: 'metrics'; jobId: string; step: number | null; trainLoss: number | null; validLoss: number | null; data: Record<string, number> }
  | { type: 'message'; jobId: string; level: string; message: string }
  | { type: 'done'; jobId: string; model: string; tokens: number | null; priceUsd: number | null };

export interface TogetherFineTuneOptions {
  trainPath: string;
  validPath?: string;
  model: string;
  suffix?: string;
  training: TogetherTraining;
  seed?: number;
  journal: Journal;
  pollMs?: number;
  onEvent?: (e: TogetherEvent) => void;
  signal?: AbortSignal;
  retryFailed?: boolean;
  /**
   * Called with Together's estimate before the job is created; return an error message to refuse
   * (nothing is created, the uploads stay recorded), or null to go ahead.
   */
  approve: (estimate: { usd: number | null; trainTokens: number | null }) => string | null;
}

interface Record_ {
  training_file?: string;
  validation_file?: string | null;
  estimate_usd?: number | null;
  /** Set (and saved) just before `fineTuning.create`: a run that died there looks for the job first. */
  create_sent?: boolean;
  job_id?: string;
  status?: string;
  model_output_name?: string | null;
  token_count?: number | null;
  total_price?: number | null;
  error?: string | null;
}

const TERMINAL = new Set(['completed', 'error', 'cancelled']);
const FAILED = new Set(['error', 'cancelled']);

export function togetherKey(k: { train: string; valid: string | null; model: string; suffix: string | null; training: TogetherTraining; seed: number | null }): string {
  return `llm/together-finetune/${hashJson(k as unknown as Json)}`;
}

/** The create parameters of a job (also what the price estimate is asked for). */
function jobParams(opts: TogetherFineTuneOptions, rec: Record_) {
  const t = opts.training;
  const training_type = t.type === 'full'
    ? { type: 'Full' as const }
    : {
      type: 'Lora' as const, lora_r: t.lora?.r ?? 16, lora_alpha: t.lora?.alpha ?? 32,
      ...(t.lora?.dropout !== undefined ? { lora_dropout: t.lora.dropout } : {}),
      ...(t.lora?.trainableModules !== undefined ? { lora_trainable_modules: t.lora.trainableModules } : {}),
    };
  return {
    model: opts.model,
    training_file: rec.training_file!,
    ...(rec.validation_file ? { validation_file: rec.validation_file } : {}),
    training_type,
    // Loss on the assistant turns only (the default for conversational data, said explicitly).
    training_method: { method: 'sft' as const, train_on_inputs: false },
    ...(t.n_epochs !== undefined ? { n_epochs: t.n_epochs } : {}),
    ...(t.learning_rate !== undefined ? { learning_rate: t.learning_rate } : {}),
    ...(t.batch_size !== undefined ? { batch_size: t.batch_size } : {}),
    ...(t.n_checkpoints !== undefined ? { n_checkpoints: t.n_checkpoints } : {}),
    ...(t.n_evals !== undefined && rec.validation_file ? { n_evals: t.n_evals } : {}),
    ...(t.max_seq_length !== undefined ? { max_seq_length: t.max_seq_length } : {}),
    ...(opts.suffix ? { suffix: opts.suffix } : {}),
    ...(opts.seed !== undefined ? { random_seed: opts.seed } : {}),
  };
}

/** Uploads, estimates, asks `approve`, creates, polls; returns the output model name. */
export async function runTogetherFineTune(client: Together, opts: TogetherFineTuneOptions): Promise<string> {
  try {
    return await inner(client, opts);
  } catch (err) {
    // The SDK's upload rejects with plain objects ({message}); make them errors, without the key.
    if (!(err instanceof Error)) throw new Error(redactFor(client, errorMessage(err)));
    throw scrubError(client, err);
  }
}

async function inner(client: Together, opts: TogetherFineTuneOptions): Promise<string> {
  const { journal, signal, onEvent } = opts;
  const pollMs = opts.pollMs ?? 30_000;
  signal?.throwIfAborted();
  const train = await readFile(opts.trainPath);
  const valid = opts.validPath ? await readFile(opts.validPath) : null;
  const base = togetherKey({
    train: sha256(train), valid: valid ? sha256(valid) : null, model: opts.model, suffix: opts.suffix ?? null, training: opts.training, seed: opts.seed ?? null,
  });
  let attempt = 1;
  let rec: Record_ | undefined;
  for (;;) {
    const v = (await journal.get(`${base}/${attempt}`)) as Record_ | undefined;
    if (!v) break;
    rec = v;
    if (!(await journal.get(`${base}/${attempt + 1}`))) break;
    attempt++;
  }
  if (rec?.status && FAILED.has(rec.status)) {
    if (!opts.retryFailed) {
      throw new FineTuneError(`Together fine-tuning job ${rec.job_id} ${rec.status}${rec.error ? `: ${rec.error}` : ''} (pass retryFailed to start a new job)`, rec.job_id, rec.status);
    }
    attempt++;
    rec = undefined;
  }
  const key = `${base}/${attempt}`;
  const record: Record_ = rec ?? {};
  const save = () => journal.put(key, record as unknown as Json);
  if (record.status === 'completed' && record.model_output_name) return record.model_output_name;

  if (!record.job_id) {
    if (!record.training_file) {
      const { checkFile } = loadSdk<typeof import('together-ai/lib/check-file')>('together-ai/lib/check-file');
      for (const [name, p] of [['train', opts.trainPath], ['valid', opts.validPath]] as const) {
        if (!p) continue;
        const report = await checkFile(p, 'fine-tune');
        if (!report.is_check_passed) throw new FineTuneError(`the ${name} file fails Together's format check: ${report.message}`);
      }
      const t = await uploadFile(client, train, 'train.jsonl', signal);
      onEvent?.({ type: 'uploaded', file: 'train', fileId: t.id });
      let v: string | null = null;
      if (opts.validPath && valid) {
        const f = await uploadFile(client, valid, 'valid.jsonl', signal);
        onEvent?.({ type: 'uploaded', file: 'valid', fileId: f.id });
        v = f.id;
      }
      record.training_file = t.id;
      record.validation_file = v;
      await save();
    }
    signal?.throwIfAborted();
    const params = jobParams(opts, record);
    const { model: estModel, training_file, validation_file, n_epochs, n_evals, training_method, training_type } = params as ReturnType<typeof jobParams> & { validation_file?: string; n_epochs?: number; n_evals?: number };
    const est = await client.fineTuning.estimatePrice(
      { model: estModel, training_file, ...(validation_file ? { validation_file } : {}), ...(n_epochs !== undefined ? { n_epochs } : {}), ...(n_evals !== undefined ? { n_evals } : {}), training_method, training_type },
      { signal },
    );
    // An unavailable estimate (files not validated yet, ...) leaves the price unknown: approve() decides.
    const avail = est.estimation_available ? est : null;
    const usd = typeof avail?.estimated_total_price === 'number' ? avail.estimated_total_price : null;
    const trainTokens = typeof avail?.estimated_train_token_count === 'number' ? avail.estimated_train_token_count : null;
    const userLimit = typeof avail?.user_limit === 'number' ? avail.user_limit : null;
    onEvent?.({ type: 'estimate', usd, trainTokens, allowed: avail?.allowed_to_proceed ?? null, limit: userLimit });
    record.estimate_usd = usd;
    await save();
    if (avail?.allowed_to_proceed === false) {
      throw new TogetherBudgetError(`Together will not start this job: its estimate ${usd === null ? '(unknown)' : `$${usd.toFixed(2)}`} is over your credit limit${userLimit !== null ? ` ($${userLimit.toFixed(2)})` : ''}`, usd);
    }
    const refusal = opts.approve({ usd, trainTokens });
    if (refusal) throw new TogetherBudgetError(refusal, usd);
    signal?.throwIfAborted();
    // A create that got no answer (a crash, a 500 the SDK does not retry, a dropped connection) may
    // still have made the job: find it by its training file, which only this record uploaded.
    const existing = record.create_sent
      ? ((await client.fineTuning.list({ signal })).data ?? []).find((j) => j.training_file === record.training_file)
      : undefined;
    record.create_sent = true;
    await save();
    const job = existing ?? (await client.fineTuning.create(params, { signal }));
    record.job_id = job.id;
    record.status = String(job.status ?? 'pending');
    await save(); // before polling: a second call resumes this job
    onEvent?.({ type: 'created', jobId: job.id });
  } else {
    onEvent?.({ type: 'resumed', jobId: record.job_id });
  }

  const jobId = record.job_id!;
  let seenEvents = 0;
  let seenMetrics = 0;
  let warnedMetrics = false;
  let lastStatus = '';
  let lastError: string | null = null;
  for (;;) {
    signal?.throwIfAborted();
    const job = await client.fineTuning.retrieve(jobId, { signal });
    if (job.status !== lastStatus) {
      lastStatus = job.status;
      onEvent?.({ type: 'status', jobId, status: job.status });
    }
    try {
      const evs = (await client.fineTuning.listEvents(jobId, { signal })).data ?? [];
      for (const ev of evs.slice(seenEvents)) {
        const level = ev.level === 'error' || ev.level === 'legacy_ierror' ? 'error' : ev.level === 'warning' || ev.level === 'legacy_iwarning' ? 'warn' : 'info';
        if (level === 'error' || ev.type === 'job_error') lastError = ev.message;
        onEvent?.({ type: 'message', jobId, level, message: ev.message });
      }
      seenEvents = Math.max(seenEvents, evs.length);
    } catch (err) {
      if (signal?.aborted) throw err;
      onEvent?.({ type: 'message', jobId, level: 'warn', message: `could not list events: ${redactFor(client, errorMessage(err))}` });
    }
    try {
      const metrics = (await client.fineTuning.listMetrics(jobId, {}, { signal })).metrics ?? [];
      for (const m of metrics.slice(seenMetrics)) {
        const num = (...names: string[]) => {
          for (const n of names) if (typeof m[n] === 'number') return m[n]!;
          return null;
        };
        onEvent?.({ type: 'metrics', jobId, step: num('step', 'global_step'), trainLoss: num('train_loss', 'loss'), validLoss: num('eval_loss', 'valid_loss'), data: m });
      }
      seenMetrics = Math.max(seenMetrics, metrics.length);
    } catch (err) {
      if (signal?.aborted) throw err;
      if (!warnedMetrics) onEvent?.({ type: 'message', jobId, level: 'warn', message: `could not read training metrics: ${redactFor(client, errorMessage(err))}` });
      warnedMetrics = true;
    }
    if (TERMINAL.has(job.status)) {
      record.status = job.status;
      record.model_output_name = job.model_output_name ?? null;
      record.token_count = job.token_count ?? null;
      record.total_price = job.total_price ?? null;
      record.error = FAILED.has(job.status) ? redactFor(client, lastError ?? job.status) : null;
      await save();
      if (job.status === 'completed' && job.model_output_name) {
        onEvent?.({ type: 'done', jobId, model: job.model_output_name, tokens: job.token_count ?? null, priceUsd: job.total_price ?? null });
        return job.model_output_name;
      }
      throw new FineTuneError(`Together fine-tuning job ${jobId} ${job.status === 'completed' ? 'completed without an output model' : job.status}${record.error && record.error !== job.status ? `: ${record.error}` : ''}`, jobId, job.status);
    }
    if (record.status !== job.status) {
      record.status = job.status;
      await save();
    }
    await sleep(pollMs, signal);
  }
}

/**
 * Together's two-step upload (what `files.upload` means to do): POST /files?file_name&file_type&purpose
 * answers 302 with a signed URL and the file id; the bytes are PUT there; the file is then read back
 * through the SDK. 429, 5xx and dropped connections are retried (5 attempts, backing off, Retry-After
 * honoured); a retried POST only reserves another id, nothing is trained or billed by it.
 */
export async function uploadFile(client: Together, bytes: Buffer, name: string, signal?: AbortSignal): Promise<{ id: string }> {
  const base = norm(client.baseURL);
  const params = new URLSearchParams({ file_name: name, file_type: 'jsonl', purpose: 'fine-tune' });
  const attempt = async <T>(what: string, f: () => Promise<Response>, ok: (r: Response) => T | null): Promise<T> => {
    let last = '';
    for (let i = 0; i < 5; i++) {
      signal?.throwIfAborted();
      let r: Response;
      try {
        r = await f();
      } catch (err) {
        if (signal?.aborted) throw err;
        last = errorMessage(err);
        await sleep(200 * 2 ** i, signal);
        continue;
      }
      const v = ok(r);
      if (v !== null) return v;
      const text = (await r.text().catch(() => '')).slice(0, 300);
      last = `HTTP ${r.status}${text ? `: ${text}` : ''}`;
      if (r.status !== 429 && r.status < 500) break;
      const after = Number(r.headers.get('retry-after'));
      await sleep(Number.isFinite(after) && after > 0 ? Math.min(after, 60) * 1000 : 200 * 2 ** i, signal);
    }
    throw new Error(`Together upload of ${name} failed at ${what}: ${redactFor(client, last)}`);
  };
  const target = await attempt(
    'POST /files',
    () => fetch(`${base}/files?${params}`, {
      method: 'POST', redirect: 'manual', signal,
      headers: { Authorization: `Bearer ${client.apiKey}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: params.toString(),
    }),
    (r) => {
      const location = r.headers.get('location');
      const id = r.headers.get('x-together-file-id');
      return r.status === 302 && location && id ? { location, id } : null;
    },
  );
  await attempt(
    'PUT (signed URL)',
    () => fetch(target.location, { method: 'PUT', signal, headers: { 'Content-Type': 'application/octet-stream' }, body: new Uint8Array(bytes) }),
    (r) => (r.status === 200 ? true : null),
  );
  const f = await client.files.retrieve(target.id, { signal });
  return { id: f.id };
}
