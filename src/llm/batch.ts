/**
 * Running chat-completion requests through the OpenAI Batch API, resumably.
 *
 * Journal keys (see journal.ts):
 *   llm/item/<itemHash>       the successful result of one request; never sent again once present
 *   llm/batch-set/<setHash>   the plan of a request set: every batch created for it, with its
 *                             custom_ids, input file and whether its results were collected
 *   (opts.planKey)            the same plan under a key the caller chooses, for request sets that
 *                             vary between runs (the items of a target that need an answer): its
 *                             batches also name each line's item key
 * itemHash = sha256(canonical {endpoint, custom_id, body}); setHash = sha256(canonical {endpoint,
 * items: sorted itemHashes}) over the whole request list given to `runBatch`. A batch is recorded in
 * the plan right after `batches.create` returns, before any polling, so a re-run after a crash or
 * Ctrl-C retrieves the same batch instead of creating (and paying for) a new one.
 */
import type OpenAI from 'openai';
import { toFile } from 'openai';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { Journal } from './journal.js';
import { hashJson, sleep, type Json } from './json.js';
import { isAnswerBody, shapeChatBody } from './models.js';
import { redactFor, scrubError } from './provider.js';

/** The endpoints whose answers asmgraph reads (a Responses API answer is stored as it came, in `body`). */
export type ChatEndpoint = '/v1/chat/completions' | '/v1/responses';

export interface LlmRequest {
  custom_id: string;
  /** The chat completion parameters (model, messages, n, max_tokens, ...). */
  body: object;
}

export type LlmResult = { ok: true; body: ChatCompletion } | { ok: false; error: string };

export type BatchProgress =
  | { type: 'cached'; count: number; total: number }
  | { type: 'uploaded'; fileId: string; requests: number; bytes: number }
  | { type: 'created'; batchId: string; requests: number }
  | { type: 'resumed'; batchId: string; requests: number }
  | {
      type: 'status';
      batchId: string;
      status: string;
      counts: { total: number; completed: number; failed: number };
    }
  | { type: 'finished'; batchId: string; status: string; ok: number; failed: number };

export interface BatchOptions {
  journal: Journal;
  /** Milliseconds between polls (default 30 s). */
  pollMs?: number;
  onProgress?: (e: BatchProgress) => void;
  /** Aborting stops polling (the batch keeps running and is resumed by the next call). */
  signal?: AbortSignal;
  endpoint?: ChatEndpoint;
  /** Requests per batch file (default and maximum 50,000). */
  maxRequestsPerBatch?: number;
  /** Bytes per batch file (default 200 MB). */
  maxBytesPerBatch?: number;
  /** Batch metadata (merged with asmgraph's own). */
  metadata?: Record<string, string>;
  /** Reshape each body for its model (`shapeChatBody`; default true). false: the bodies are already shaped. */
  shape?: boolean;
  /**
   * A fixed journal key for the plan instead of one derived from the whole request set. Requests are
   * then matched to recorded batches by their item key: a call resumes every open batch that holds
   * one of its requests, whatever else it asks this time (nothing is sent twice when the set
   * changes between runs), and collecting a batch journals every answer in it, asked for now or not.
   */
  planKey?: string;
}

export const BATCH_MAX_REQUESTS = 50_000;
export const BATCH_MAX_BYTES = 200 * 1000 * 1000;
export const DEFAULT_ENDPOINT: ChatEndpoint = '/v1/chat/completions';

const TERMINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);

interface PlannedBatch {
  input_file_id: string;
  batch_id: string | null;
  custom_ids: string[];
  done: boolean;
  status?: string;
  /** With a fixed plan key: custom_id -> item key of each line. */
  items?: Record<string, string>;
}

interface Plan {
  batches: PlannedBatch[];
}

export function itemKey(endpoint: string, req: LlmRequest): string {
  return `llm/item/${hashJson({ endpoint, custom_id: req.custom_id, body: req.body })}`;
}

function setKey(endpoint: string, itemKeys: string[]): string {
  return `llm/batch-set/${hashJson({ endpoint, items: [...itemKeys].sort() })}`;
}

/** Throws unless every custom_id is a non-empty string and unique. */
export function validateRequests(requests: LlmRequest[]): void {
  const seen = new Set<string>();
  for (const r of requests) {
    if (typeof r.custom_id !== 'string' || r.custom_id === '') throw new Error('every request needs a non-empty string custom_id');
    if (seen.has(r.custom_id)) throw new Error(`duplicate custom_id '${r.custom_id}': custom_ids must be unique`);
    if (!r.body || typeof r.body !== 'object') throw new Error(`request '${r.custom_id}' has no body object`);
    seen.add(r.custom_id);
  }
}

export function jsonlLine(endpoint: string, req: LlmRequest): string {
  return JSON.stringify({ custom_id: req.custom_id, method: 'POST', url: endpoint, body: req.body });
}

/**
 * Splits requests into batch files: one model per file, at most `maxRequests` lines and
 * `maxBytes` bytes each, in input order (deterministic, so a re-run plans the same files).
 */
export function splitIntoBatches(
  requests: LlmRequest[],
  opts: { endpoint?: string; maxRequests?: number; maxBytes?: number } = {},
): { requests: LlmRequest[]; jsonl: string }[] {
  const endpoint = opts.endpoint ?? DEFAULT_ENDPOINT;
  const maxRequests = Math.min(opts.maxRequests ?? BATCH_MAX_REQUESTS, BATCH_MAX_REQUESTS);
  const maxBytes = Math.min(opts.maxBytes ?? BATCH_MAX_BYTES, BATCH_MAX_BYTES);
  if (maxRequests < 1) throw new Error('maxRequestsPerBatch must be at least 1');
  const byModel = new Map<string, LlmRequest[]>();
  for (const r of requests) {
    const model = String((r.body as { model?: unknown }).model ?? '');
    const list = byModel.get(model) ?? [];
    list.push(r);
    byModel.set(model, list);
  }
  const out: { requests: LlmRequest[]; jsonl: string }[] = [];
  for (const list of byModel.values()) {
    let cur: LlmRequest[] = [];
    let lines: string[] = [];
    let bytes = 0;
    const flush = () => {
      if (cur.length) out.push({ requests: cur, jsonl: lines.join('\n') + '\n' });
      cur = [];
      lines = [];
      bytes = 0;
    };
    for (const r of list) {
      const line = jsonlLine(endpoint, r);
      const size = Buffer.byteLength(line) + 1;
      if (size > maxBytes) throw new Error(`request '${r.custom_id}' is ${size} bytes, more than a batch file may hold (${maxBytes})`);
      if (cur.length >= maxRequests || bytes + size > maxBytes) flush();
      cur.push(r);
      lines.push(line);
      bytes += size;
    }
    flush();
  }
  return out;
}

/** A Chat Completion, or a Responses API object (see `answerText` in models.ts to read either). */
function isChatCompletion(v: unknown): v is ChatCompletion {
  return isAnswerBody(v);
}

/** Parses output/error file lines into per-custom_id results. */
export function parseBatchLines(text: string): Map<string, LlmResult> {
  const out = new Map<string, LlmResult>();
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let line: any;
    try {
      line = JSON.parse(raw);
    } catch {
      continue; // a torn line cannot be attributed to a custom_id
    }
    const id = line?.custom_id;
    if (typeof id !== 'string') continue;
    const resp = line.response;
    if (resp && resp.status_code === 200 && isChatCompletion(resp.body) && !line.error) {
      out.set(id, { ok: true, body: resp.body });
    } else if (line.error) {
      const e = line.error;
      out.set(id, { ok: false, error: `${e.code ?? 'error'}: ${e.message ?? 'request failed'}` });
    } else if (resp) {
      const msg = resp.body?.error?.message ?? JSON.stringify(resp.body ?? null).slice(0, 500);
      out.set(id, { ok: false, error: `HTTP ${resp.status_code}: ${msg}` });
    } else {
      out.set(id, { ok: false, error: 'no response in batch output' });
    }
  }
  return out;
}

async function download(client: OpenAI, fileId: string | null | undefined, signal?: AbortSignal): Promise<string> {
  if (!fileId) return ''; // null, undefined and "" all mean "no file"
  const res = await client.files.content(fileId, { signal });
  return await res.text();
}

function asPlan(v: Json | undefined): Plan {
  if (v && typeof v === 'object' && !Array.isArray(v) && Array.isArray((v as any).batches)) {
    return v as unknown as Plan;
  }
  return { batches: [] };
}

async function readItems(journal: Journal, keys: string[]): Promise<(Json | undefined)[]> {
  return Promise.all(keys.map((k) => journal.get(k)));
}

/**
 * Runs `requests` through the Batch API and returns a result per custom_id. Results already in the
 * journal are returned without any request; requests covered by a batch recorded for this request
 * set are resumed (retrieved), the rest are uploaded as new batches. Failed, expired, cancelled and
 * missing requests come back as `{ok: false}` and are not journaled, so a later call re-submits
 * exactly those.
 */
export async function runBatch(
  client: OpenAI,
  requests: LlmRequest[],
  opts: BatchOptions,
): Promise<Map<string, LlmResult>> {
  try {
    const endpoint = opts.endpoint ?? DEFAULT_ENDPOINT;
    const shaped = opts.shape === false ? requests : requests.map((r) => ({ ...r, body: shapeChatBody(endpoint, r.body) }));
    return await runBatchInner(client, shaped, opts);
  } catch (err) {
    throw scrubError(client, err);
  }
}

async function runBatchInner(
  client: OpenAI,
  requests: LlmRequest[],
  opts: BatchOptions,
): Promise<Map<string, LlmResult>> {
  const { journal, signal, onProgress } = opts;
  const endpoint = opts.endpoint ?? DEFAULT_ENDPOINT;
  const pollMs = opts.pollMs ?? 30_000;
  validateRequests(requests);
  signal?.throwIfAborted();

  const keys = new Map<string, string>(requests.map((r) => [r.custom_id, itemKey(endpoint, r)]));
  const byId = new Map(requests.map((r) => [r.custom_id, r]));
  const results = new Map<string, LlmResult>();

  const cached = await readItems(journal, requests.map((r) => keys.get(r.custom_id)!));
  requests.forEach((r, i) => {
    const v = cached[i] as any;
    if (v && v.ok === true && isChatCompletion(v.body)) results.set(r.custom_id, { ok: true, body: v.body });
  });
  onProgress?.({ type: 'cached', count: results.size, total: requests.length });
  if (results.size === requests.length) return orderResults(requests, results);

  const fixed = opts.planKey !== undefined;
  const planKey = opts.planKey ?? setKey(endpoint, [...keys.values()]);
  const plan = asPlan(await journal.get(planKey));
  // A fixed plan outlives its batches: the collected ones are history.
  if (fixed) plan.batches = plan.batches.filter((b) => !b.done);
  const savePlan = () => journal.put(planKey, plan as unknown as Json);

  // Requests in open (not yet collected) batches are resumed, never re-sent.
  const asked = new Set(requests.filter((r) => !results.has(r.custom_id)).map((r) => keys.get(r.custom_id)!));
  const covered = new Set<string>();
  const relevant = (b: PlannedBatch) => !fixed || Object.values(b.items ?? {}).some((k) => asked.has(k));
  for (const b of plan.batches) {
    if (b.done) continue;
    if (!fixed) for (const id of b.custom_ids) covered.add(id);
    else for (const k of Object.values(b.items ?? {})) covered.add(k);
  }
  const pending = requests.filter((r) => !results.has(r.custom_id) && !covered.has(fixed ? keys.get(r.custom_id)! : r.custom_id));

  const tag = fixed ? hashJson(planKey) : planKey.slice('llm/batch-set/'.length);
  const metadata = { ...(opts.metadata ?? {}), asmgraph_set: tag.slice(0, 32) };

  for (const b of plan.batches) {
    if (!b.done && b.batch_id && relevant(b)) onProgress?.({ type: 'resumed', batchId: b.batch_id, requests: b.custom_ids.length });
  }
  // Open batches whose file was uploaded but whose creation did not happen (crash in between).
  for (const b of plan.batches) {
    if (!b.done && !b.batch_id && relevant(b)) await createRecorded(b);
  }
  for (const chunk of splitIntoBatches(pending, {
    endpoint,
    maxRequests: opts.maxRequestsPerBatch,
    maxBytes: opts.maxBytesPerBatch,
  })) {
    signal?.throwIfAborted();
    const bytes = Buffer.byteLength(chunk.jsonl);
    const file = await client.files.create(
      { file: await toFile(Buffer.from(chunk.jsonl), 'batch.jsonl', { type: 'application/jsonl' }), purpose: 'batch' },
      { signal },
    );
    onProgress?.({ type: 'uploaded', fileId: file.id, requests: chunk.requests.length, bytes });
    const entry: PlannedBatch = { input_file_id: file.id, batch_id: null, custom_ids: chunk.requests.map((r) => r.custom_id), done: false };
    if (fixed) entry.items = Object.fromEntries(chunk.requests.map((r) => [r.custom_id, keys.get(r.custom_id)!]));
    plan.batches.push(entry);
    await savePlan();
    await createRecorded(entry);
  }

  async function createRecorded(entry: PlannedBatch): Promise<void> {
    signal?.throwIfAborted();
    const batch = await client.batches.create(
      { input_file_id: entry.input_file_id, endpoint, completion_window: '24h', metadata },
      { signal },
    );
    entry.batch_id = batch.id;
    entry.status = batch.status;
    await savePlan(); // before any polling: a re-run resumes this batch
    onProgress?.({ type: 'created', batchId: batch.id, requests: entry.custom_ids.length });
  }

  const open = plan.batches.filter((b) => !b.done && b.batch_id && relevant(b));

  // Poll every open batch until all are terminal and collected.
  let remaining = open;
  while (remaining.length) {
    const still: PlannedBatch[] = [];
    for (const b of remaining) {
      signal?.throwIfAborted();
      const batch = await client.batches.retrieve(b.batch_id!, { signal });
      const rc = batch.request_counts ?? { total: 0, completed: 0, failed: 0 };
      onProgress?.({ type: 'status', batchId: batch.id, status: batch.status, counts: { total: rc.total, completed: rc.completed, failed: rc.failed } });
      if (!TERMINAL.has(batch.status)) {
        still.push(b);
        continue;
      }
      await collect(b, batch);
    }
    remaining = still;
    if (remaining.length) await sleep(pollMs, signal);
  }

  async function collect(b: PlannedBatch, batch: OpenAI.Batches.Batch): Promise<void> {
    const parsed = new Map<string, LlmResult>();
    const outText = await download(client, batch.output_file_id, signal);
    for (const [id, r] of parseBatchLines(outText)) parsed.set(id, r);
    const errText = await download(client, batch.error_file_id, signal);
    for (const [id, r] of parseBatchLines(errText)) if (!parsed.get(id)?.ok) parsed.set(id, r);

    let batchError: string | undefined;
    if (batch.status === 'failed') {
      const errs = batch.errors?.data ?? [];
      const detail = errs.length
        ? errs.map((e) => `${e.code ?? 'error'}: ${e.message ?? ''}${e.line != null ? ` (line ${e.line})` : ''}`).join('; ')
        : 'no details';
      batchError = `batch ${batch.id} failed: ${detail}`;
    }
    let ok = 0;
    let failed = 0;
    const puts: Promise<void>[] = [];
    for (const id of b.custom_ids) {
      const r = parsed.get(id);
      // With a fixed plan, the same custom_id may now stand for another request (another body).
      const req = fixed && keys.get(id) !== b.items?.[id] ? undefined : byId.get(id);
      if (!req) {
        // Paid for, not asked for this time: kept for when it is.
        const k = b.items?.[id];
        if (k && r?.ok) puts.push(journal.put(k, { ok: true, body: r.body as unknown as Json }));
        continue;
      }
      if (r?.ok) {
        ok++;
        results.set(id, r);
        puts.push(journal.put(keys.get(id)!, { ok: true, body: r.body as unknown as Json }));
      } else {
        failed++;
        const error = r && !r.ok ? r.error : (batchError ?? `missing from the output of batch ${batch.id} (status ${batch.status})`);
        results.set(id, { ok: false, error: redactFor(client, error) });
      }
    }
    await Promise.all(puts); // item results first, then the plan: a crash in between only re-asks failures
    b.done = true;
    b.status = batch.status;
    await savePlan();
    onProgress?.({ type: 'finished', batchId: batch.id, status: batch.status, ok, failed });
  }

  // Requests neither answered now nor before (should not happen, but never drop an id).
  for (const r of requests) {
    if (!results.has(r.custom_id)) results.set(r.custom_id, { ok: false, error: 'no batch result' });
  }
  return orderResults(requests, results);
}

function orderResults(requests: LlmRequest[], results: Map<string, LlmResult>): Map<string, LlmResult> {
  const out = new Map<string, LlmResult>();
  for (const r of requests) out.set(r.custom_id, results.get(r.custom_id)!);
  return out;
}
