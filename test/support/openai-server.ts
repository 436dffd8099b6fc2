/**
 * A local OpenAI-compatible server for tests: a real node:http server on 127.0.0.1 (random port)
 * implementing the routes the SDK calls for files, batches, chat completions and fine-tuning, with
 * scripted outcomes and fault injection. Nothing here touches the network beyond loopback.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Responder = (body: any, choiceIndex: number) => string;

export type RouteName =
  | 'POST /v1/files'
  | 'GET /v1/files/:id'
  | 'GET /v1/files/:id/content'
  | 'POST /v1/batches'
  | 'GET /v1/batches'
  | 'GET /v1/batches/:id'
  | 'POST /v1/batches/:id/cancel'
  | 'POST /v1/chat/completions'
  | 'POST /v1/responses'
  | 'POST /v1/fine_tuning/jobs'
  | 'GET /v1/fine_tuning/jobs/:id'
  | 'GET /v1/fine_tuning/jobs/:id/events'
  | 'POST /v1/fine_tuning/jobs/:id/cancel';

export interface RecordedRequest {
  method: string;
  /** Path without query, after normalization (Azure prefixes removed). */
  path: string;
  route: RouteName | 'unknown';
  query: Record<string, string>;
  /** Parsed JSON body, or for multipart uploads `{purpose, filename, size, content}`. */
  body: any;
  headers: Record<string, string | string[] | undefined>;
  /** The fault injected into this request, if any. */
  fault?: FaultKind;
}

export type FaultKind = '429' | '500' | 'drop' | 'hang';

export interface Fault {
  kind: FaultKind;
  /** For 429: the Retry-After header value in seconds (default 1). */
  retryAfter?: number;
  /** For 429: a retry-after-ms header value instead. */
  retryAfterMs?: number;
}

export type BatchOutcome = 'completed' | 'failed' | 'expired' | 'cancelled' | 'completed_no_output';

export interface BatchScript {
  outcome?: BatchOutcome;
  /** Explicit status sequence walked on each retrieve (overrides the outcome's default). */
  statuses?: string[];
  /** For `expired`: how many requests finished before expiry (default half, rounded down). */
  finished?: number;
  /** custom_ids whose request fails with HTTP 400 (goes to the error file). */
  failIds?: string[];
  /** Report an empty-string error_file_id instead of null when there are no errors. */
  emptyErrorFileId?: boolean;
  /** For `failed`: the validation error. */
  error?: { code: string; message: string; line?: number | null; param?: string | null };
}

export interface JobScript {
  outcome?: 'succeeded' | 'failed' | 'cancelled';
  /** Metrics events emitted while running (default 3). */
  steps?: number;
  /** How many retrieves the job stays `running` (default 2). */
  runningPolls?: number;
}

export interface ServerOptions {
  /** When set, requests must carry `Authorization: Bearer <apiKey>` or `api-key: <apiKey>` (else 401). */
  apiKey?: string;
  responder?: Responder;
  /** Delay before answering a chat completion, to make concurrency observable. */
  chatDelayMs?: number;
  /** Shuffle output file lines (default true). */
  shuffleOutput?: boolean;
}

interface StoredFile {
  id: string;
  purpose: string;
  filename: string;
  bytes: Buffer;
  created_at: number;
}

interface BatchState {
  obj: any;
  statuses: string[];
  step: number;
  script: BatchScript;
  lines: any[];
  cancelRequested: boolean;
}

interface JobState {
  obj: any;
  statuses: string[];
  step: number;
  script: JobScript;
  events: any[];
  metricStep: number;
}

export const DEFAULT_CPP = `#include <iostream>

int main() {
    int a = 8;
    int b = 120;
    std::cout << "sum: " << a + b << std::endl;
    return 0;
}
`;

export const defaultResponder: Responder = () => 'Here is a program:\n\n```cpp\n' + DEFAULT_CPP + '```\n';

export interface OpenAIServer {
  /** Base URL without `/v1` (e.g. `http://127.0.0.1:43210`). */
  url: string;
  /** `url + '/v1'`, what to give the SDK as baseURL. */
  baseURL: string;
  requests: RecordedRequest[];
  files: Map<string, StoredFile>;
  batches: Map<string, BatchState>;
  jobs: Map<string, JobState>;
  /** Number of recorded requests to a route (optionally only the successful, non-faulted ones). */
  count(route: RouteName, opts?: { faulted?: boolean }): number;
  /** Maximum number of chat completions in flight at once. */
  readonly maxInFlight: number;
  readonly inFlight: number;
  script: {
    /** Scripts for the next created batches, in order; unscripted batches complete normally. */
    batches: BatchScript[];
    /** Scripts for the next created fine-tuning jobs. */
    jobs: JobScript[];
    /** When true, creating a fine-tuning job returns 403 training_not_available. */
    trainingNotAvailable: boolean;
    /** Called for every request after it is recorded, before it is answered. */
    onRequest?: (req: RecordedRequest) => void;
  };
  /** The next `times` requests to `route` get `fault` instead of an answer. */
  inject(route: RouteName, fault: Fault | FaultKind, times?: number): void;
  setResponder(responder: Responder): void;
  stop(): Promise<void>;
}

const ROUTES: { method: string; re: RegExp; name: RouteName }[] = [
  { method: 'POST', re: /^\/v1\/files$/, name: 'POST /v1/files' },
  { method: 'GET', re: /^\/v1\/files\/([^/]+)$/, name: 'GET /v1/files/:id' },
  { method: 'GET', re: /^\/v1\/files\/([^/]+)\/content$/, name: 'GET /v1/files/:id/content' },
  { method: 'POST', re: /^\/v1\/batches$/, name: 'POST /v1/batches' },
  { method: 'GET', re: /^\/v1\/batches$/, name: 'GET /v1/batches' },
  { method: 'GET', re: /^\/v1\/batches\/([^/]+)$/, name: 'GET /v1/batches/:id' },
  { method: 'POST', re: /^\/v1\/batches\/([^/]+)\/cancel$/, name: 'POST /v1/batches/:id/cancel' },
  { method: 'POST', re: /^\/v1\/chat\/completions$/, name: 'POST /v1/chat/completions' },
  { method: 'POST', re: /^\/v1\/responses$/, name: 'POST /v1/responses' },
  { method: 'POST', re: /^\/v1\/fine_tuning\/jobs$/, name: 'POST /v1/fine_tuning/jobs' },
  { method: 'GET', re: /^\/v1\/fine_tuning\/jobs\/([^/]+)$/, name: 'GET /v1/fine_tuning/jobs/:id' },
  { method: 'GET', re: /^\/v1\/fine_tuning\/jobs\/([^/]+)\/events$/, name: 'GET /v1/fine_tuning/jobs/:id/events' },
  { method: 'POST', re: /^\/v1\/fine_tuning\/jobs\/([^/]+)\/cancel$/, name: 'POST /v1/fine_tuning/jobs/:id/cancel' },
];

/** Models that reason (gpt-5 family, o-series): OpenAI rejects sampling parameters for them. */
export const REASONING_MODEL = /^(ft:)?(o\d|gpt-5(?!-chat)|gpt-6)/;

/** Answers 400 the way OpenAI does when a reasoning model gets parameters it does not support. */
function checkReasoningParams(body: any, responses: boolean): void {
  if (!REASONING_MODEL.test(String(body?.model ?? ''))) return;
  if (!responses && body.max_tokens !== undefined) {
    throw new HttpError(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", 'unsupported_parameter');
  }
  if (body.temperature !== undefined && body.temperature !== 1) {
    throw new HttpError(400, "Unsupported value: 'temperature' does not support " + body.temperature + ' with this model. Only the default (1) value is supported.', 'unsupported_value');
  }
  if (!responses && body.n !== undefined && body.n !== 1) throw new HttpError(400, "Unsupported value: 'n' must be 1 with this model.", 'unsupported_value');
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly type = 'invalid_request_error',
  ) {
    super(message);
  }
}

const now = () => Math.floor(Date.now() / 1000);
const rid = (prefix: string) => `${prefix}${randomBytes(8).toString('hex')}`;

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  // Guarantee a different order whenever there is more than one line.
  if (a.length > 1 && a.every((x, i) => x === xs[i])) a.reverse();
  return a;
}

/** Azure paths (`/openai/deployments/<d>/chat/completions`, `/openai/batches`) -> OpenAI paths. */
function normalizePath(p: string): string {
  let path = p.replace(/\/+$/, '') || '/';
  if (path.startsWith('/openai/')) path = path.slice('/openai'.length);
  path = path.replace(/^\/deployments\/[^/]+/, '');
  if (!path.startsWith('/v1/')) path = '/v1' + path;
  return path;
}

export async function startOpenAIServer(opts: ServerOptions = {}): Promise<OpenAIServer> {
  let responder: Responder = opts.responder ?? defaultResponder;
  const requests: RecordedRequest[] = [];
  const files = new Map<string, StoredFile>();
  const batches = new Map<string, BatchState>();
  const jobs = new Map<string, JobState>();
  const faults = new Map<RouteName, Fault[]>();
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  let inFlight = 0;
  let maxInFlight = 0;
  const script: OpenAIServer['script'] = { batches: [], jobs: [], trainingNotAvailable: false };

  const completion = (body: any) => {
    checkReasoningParams(body, false);
    const n = typeof body?.n === 'number' && body.n > 0 ? body.n : 1;
    const choices = [];
    let completionTokens = 0;
    for (let i = 0; i < n; i++) {
      const content = responder(body, i);
      completionTokens += Math.ceil(content.length / 4);
      choices.push({
        index: i,
        message: { role: 'assistant', content, refusal: null },
        finish_reason: 'stop',
        logprobs: null,
      });
    }
    const promptTokens = Math.ceil(JSON.stringify(body?.messages ?? []).length / 4);
    return {
      id: rid('chatcmpl-'),
      object: 'chat.completion',
      created: now(),
      model: body?.model ?? 'unknown',
      choices,
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
  };

  /** A Responses API answer (`POST /v1/responses`): `input` is a string or a list of messages. */
  const response = (body: any) => {
    if (body?.input === undefined) throw new HttpError(400, "Missing required parameter: 'input'.", 'missing_required_parameter');
    checkReasoningParams(body, true);
    const input = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : body.input;
    const messages = [...(body.instructions ? [{ role: 'system', content: body.instructions }] : []), ...input];
    const text = responder({ ...body, messages }, 0);
    const inputTokens = Math.ceil(JSON.stringify(messages).length / 4);
    const outputTokens = Math.ceil(text.length / 4);
    return {
      id: rid('resp_'),
      object: 'response',
      created_at: now(),
      status: 'completed',
      model: body.model,
      output: [{ type: 'message', id: rid('msg_'), status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }],
      usage: { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens },
    };
  };

  /** The body an endpoint answers with, for online requests and batch lines alike. */
  const answer = (endpoint: string, body: any) => (endpoint === '/v1/responses' ? response(body) : completion(body));

  const storeFile = (purpose: string, filename: string, bytes: Buffer): StoredFile => {
    const f = { id: rid('file-'), purpose, filename, bytes, created_at: now() };
    files.set(f.id, f);
    return f;
  };

  const fileObject = (f: StoredFile) => ({
    id: f.id,
    object: 'file',
    bytes: f.bytes.length,
    created_at: f.created_at,
    filename: f.filename,
    purpose: f.purpose,
    status: 'processed',
  });

  // ---- batches ----------------------------------------------------------------------------
  const createBatch = (body: any) => {
    const f = files.get(body?.input_file_id);
    if (!f) throw new HttpError(404, `No such File object: ${body?.input_file_id}`);
    if (f.purpose !== 'batch') throw new HttpError(400, `File ${f.id} has purpose ${f.purpose}, expected batch`);
    if (body?.completion_window !== '24h') throw new HttpError(400, `completion_window must be 24h`);
    const endpoint = body?.endpoint;
    const s: BatchScript = script.batches.shift() ?? {};
    const lines: any[] = [];
    let validation: BatchScript['error'] | undefined = s.outcome === 'failed' ? (s.error ?? { code: 'token_limit_exceeded', message: 'Enqueued token limit reached for gpt-4o-mini. Limit: 2,000,000 enqueued tokens.' }) : undefined;
    const seen = new Set<string>();
    const models = new Set<string>();
    const text = f.bytes.toString('utf8');
    text.split('\n').forEach((raw, i) => {
      if (validation || raw.trim() === '') return;
      let line: any;
      try {
        line = JSON.parse(raw);
      } catch {
        validation = { code: 'invalid_json_line', message: 'This line is not parseable as valid JSON.', line: i + 1 };
        return;
      }
      if (typeof line.custom_id !== 'string') validation = { code: 'missing_required_parameter', message: 'custom_id is required', line: i + 1 };
      else if (seen.has(line.custom_id)) validation = { code: 'duplicate_custom_id', message: `The custom_id for this request is a duplicate of another request.`, line: i + 1 };
      else if (line.method !== 'POST') validation = { code: 'invalid_method', message: 'method must be POST', line: i + 1 };
      else if (line.url !== endpoint) validation = { code: 'invalid_url', message: `url ${line.url} does not match endpoint ${endpoint}`, line: i + 1 };
      seen.add(line.custom_id);
      models.add(line.body?.model);
      lines.push(line);
    });
    if (!validation && models.size > 1) validation = { code: 'model_mismatch', message: 'All requests in a batch must use the same model.', line: null };
    if (!validation && lines.length > 50_000) validation = { code: 'too_many_tasks', message: 'A batch may hold at most 50,000 requests.', line: null };
    const outcome: BatchOutcome = validation ? 'failed' : (s.outcome ?? 'completed');
    const defaultStatuses: Record<BatchOutcome, string[]> = {
      completed: ['validating', 'in_progress', 'finalizing', 'completed'],
      completed_no_output: ['validating', 'in_progress', 'finalizing', 'completed'],
      expired: ['validating', 'in_progress', 'expired'],
      failed: ['validating', 'failed'],
      cancelled: ['validating', 'in_progress', 'cancelling', 'cancelled'],
    };
    const obj: any = {
      id: rid('batch_'),
      object: 'batch',
      endpoint,
      errors: null,
      input_file_id: f.id,
      completion_window: '24h',
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      created_at: now(),
      in_progress_at: null,
      expires_at: now() + 86400,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      metadata: body?.metadata ?? null,
    };
    const st: BatchState = {
      obj,
      statuses: s.statuses ?? defaultStatuses[outcome],
      step: 0,
      script: { ...s, outcome, ...(validation ? { error: validation } : {}) },
      lines,
      cancelRequested: false,
    };
    batches.set(obj.id, st);
    return obj;
  };

  const finishBatch = (st: BatchState, status: string) => {
    const { obj, script: s, lines } = st;
    const t = now();
    if (status === 'failed') {
      obj.failed_at = t;
      const e = s.error!;
      obj.errors = { object: 'list', data: [{ code: e.code, message: e.message, line: e.line ?? null, param: e.param ?? null }] };
      return;
    }
    const failIds = new Set(s.failIds ?? []);
    const out: any[] = [];
    const err: any[] = [];
    const finishedCount =
      status === 'expired' ? (s.finished ?? Math.floor(lines.length / 2))
      : status === 'cancelled' ? (s.finished ?? Math.floor(lines.length / 2))
      : lines.length;
    lines.forEach((line, i) => {
      const reqId = rid('req_');
      if (i >= finishedCount) {
        if (status === 'expired') {
          err.push({ id: rid('batch_req_'), custom_id: line.custom_id, response: null, error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' } });
        } else {
          err.push({ id: rid('batch_req_'), custom_id: line.custom_id, response: null, error: { code: 'batch_cancelled', message: 'This request was not executed because the batch was cancelled.' } });
        }
        return;
      }
      if (s.outcome === 'completed_no_output' || failIds.has(line.custom_id)) {
        err.push({
          id: rid('batch_req_'),
          custom_id: line.custom_id,
          response: {
            status_code: 400,
            request_id: reqId,
            body: { error: { message: `Invalid request for ${line.custom_id}: max_tokens is too large`, type: 'invalid_request_error', param: 'max_tokens', code: null } },
          },
          error: null,
        });
        return;
      }
      let body: any;
      try {
        body = answer(st.obj.endpoint, line.body);
      } catch (e) {
        if (e instanceof HttpError) {
          err.push({ id: rid('batch_req_'), custom_id: line.custom_id, response: { status_code: e.status, request_id: reqId, body: { error: { message: e.message, type: e.type, param: null, code: e.code } } }, error: null });
          return;
        }
        err.push({ id: rid('batch_req_'), custom_id: line.custom_id, response: { status_code: 500, request_id: reqId, body: { error: { message: String(e), type: 'server_error', param: null, code: null } } }, error: null });
        return;
      }
      out.push({ id: rid('batch_req_'), custom_id: line.custom_id, response: { status_code: 200, request_id: reqId, body }, error: null });
    });
    const toFile = (entries: any[], name: string) =>
      storeFile('batch_output', name, Buffer.from((opts.shuffleOutput === false ? entries : shuffle(entries)).map((e) => JSON.stringify(e) + '\n').join('')));
    obj.output_file_id = out.length ? toFile(out, `${obj.id}_output.jsonl`).id : null;
    obj.error_file_id = err.length ? toFile(err, `${obj.id}_error.jsonl`).id : s.emptyErrorFileId ? '' : null;
    obj.request_counts = { total: lines.length, completed: out.length, failed: err.length };
    if (status === 'completed') obj.completed_at = t;
    if (status === 'expired') obj.expired_at = t;
    if (status === 'cancelled') obj.cancelled_at = t;
  };

  const advanceBatch = (st: BatchState) => {
    if (st.step >= st.statuses.length - 1) return st.obj;
    st.step++;
    let status = st.statuses[st.step]!;
    if (st.cancelRequested && !['cancelling', 'cancelled'].includes(status)) status = 'cancelled';
    st.obj.status = status;
    const total = st.lines.length;
    if (status === 'in_progress') {
      st.obj.in_progress_at = now();
      st.obj.request_counts = { total, completed: Math.floor(total / 2), failed: 0 };
    } else if (status === 'finalizing') {
      st.obj.finalizing_at = now();
      st.obj.request_counts = { total, completed: total, failed: 0 };
    } else if (status === 'cancelling') {
      st.obj.cancelling_at = now();
    } else if (['completed', 'expired', 'failed', 'cancelled'].includes(status)) {
      st.step = st.statuses.length - 1;
      finishBatch(st, status);
    }
    return st.obj;
  };

  // ---- fine-tuning ------------------------------------------------------------------------
  const createJob = (body: any) => {
    if (script.trainingNotAvailable) {
      throw new HttpError(403, 'Fine-tuning is not available for this organization. Training is being wound down for self-serve users.', 'training_not_available');
    }
    const train = files.get(body?.training_file);
    if (!train) throw new HttpError(400, `invalid training_file: ${body?.training_file}`, 'invalid_training_file', 'invalid_request_error');
    if (train.purpose !== 'fine-tune') throw new HttpError(400, `training_file must have purpose fine-tune`);
    if (body?.validation_file && !files.has(body.validation_file)) throw new HttpError(400, `invalid validation_file`);
    if (typeof body?.model !== 'string') throw new HttpError(400, 'model is required');
    const s: JobScript = script.jobs.shift() ?? {};
    const outcome = s.outcome ?? 'succeeded';
    const running = Array.from({ length: s.runningPolls ?? 2 }, () => 'running');
    const hp = body?.method?.supervised?.hyperparameters ?? body?.hyperparameters ?? {};
    const obj: any = {
      id: rid('ftjob-'),
      object: 'fine_tuning.job',
      created_at: now(),
      error: null,
      fine_tuned_model: null,
      finished_at: null,
      hyperparameters: { n_epochs: hp.n_epochs ?? 'auto', batch_size: hp.batch_size ?? 'auto', learning_rate_multiplier: hp.learning_rate_multiplier ?? 'auto' },
      model: body.model,
      organization_id: 'org-test',
      result_files: [],
      seed: body.seed ?? 42,
      status: 'validating_files',
      trained_tokens: null,
      training_file: train.id,
      validation_file: body.validation_file ?? null,
      method: body.method ?? { type: 'supervised', supervised: { hyperparameters: hp } },
      suffix: body.suffix ?? null,
      metadata: body.metadata ?? null,
      estimated_finish: null,
      integrations: null,
    };
    const st: JobState = {
      obj,
      statuses: ['validating_files', 'queued', ...running, outcome],
      step: 0,
      script: s,
      events: [],
      metricStep: 0,
    };
    jobs.set(obj.id, st);
    addEvent(st, 'info', `Created fine-tuning job: ${obj.id}`);
    addEvent(st, 'info', `Validating training file: ${train.id}`);
    return obj;
  };

  const addEvent = (st: JobState, level: string, message: string, type: 'message' | 'metrics' = 'message', data: any = {}) => {
    st.events.push({ id: rid('ftevent-'), object: 'fine_tuning.job.event', created_at: now(), level, message, type, data });
  };

  const advanceJob = (st: JobState) => {
    const { obj } = st;
    if (st.step >= st.statuses.length - 1) return obj;
    st.step++;
    const status = st.statuses[st.step]!;
    obj.status = status;
    if (status === 'queued') addEvent(st, 'info', 'Files validated, moving job to queued state');
    if (status === 'running') {
      if (st.metricStep === 0) addEvent(st, 'info', 'Fine-tuning job started');
      const runningPolls = st.statuses.filter((x) => x === 'running').length;
      const totalSteps = st.script.steps ?? 3;
      const target = Math.ceil((totalSteps * st.statuses.slice(0, st.step + 1).filter((x) => x === 'running').length) / runningPolls);
      while (st.metricStep < target) {
        st.metricStep++;
        const step = st.metricStep;
        const loss = +(2 / (1 + step)).toFixed(4);
        addEvent(st, 'info', `Step ${step}/${totalSteps}: training loss=${loss}`, 'metrics', {
          step,
          train_loss: loss,
          valid_loss: +(loss * 1.1).toFixed(4),
          total_steps: totalSteps,
          train_mean_token_accuracy: 0.5 + step / (2 * totalSteps),
        });
      }
    }
    if (status === 'succeeded') {
      obj.finished_at = now();
      obj.fine_tuned_model = `ft:${obj.model}:org-test:${obj.suffix ?? ''}:${randomBytes(4).toString('hex')}`;
      const train = files.get(obj.training_file)!;
      obj.trained_tokens = Math.ceil(train.bytes.length / 4) * (typeof obj.hyperparameters.n_epochs === 'number' ? obj.hyperparameters.n_epochs : 3);
      addEvent(st, 'info', `New fine-tuned model created: ${obj.fine_tuned_model}`);
      addEvent(st, 'info', 'The job has successfully completed');
    }
    if (status === 'failed') {
      obj.finished_at = now();
      obj.error = { code: 'invalid_training_file', message: 'The job failed due to an invalid training file.', param: 'training_file' };
      addEvent(st, 'error', obj.error.message);
    }
    if (status === 'cancelled') {
      obj.finished_at = now();
      addEvent(st, 'info', 'Job cancelled');
    }
    return obj;
  };

  // ---- HTTP plumbing -----------------------------------------------------------------------
  const readBody = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const sendJson = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) => {
    const data = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), 'x-request-id': rid('req_'), ...headers });
    res.end(data);
  };

  const authorized = (req: IncomingMessage) => {
    if (!opts.apiKey) return true;
    return req.headers.authorization === `Bearer ${opts.apiKey}` || req.headers['api-key'] === opts.apiKey;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = normalizePath(u.pathname);
    const method = req.method ?? 'GET';
    const match = ROUTES.map((r) => ({ r, m: r.method === method ? r.re.exec(path) : null })).find((x) => x.m);
    const raw = await readBody(req);
    let body: any = undefined;
    const ct = req.headers['content-type'] ?? '';
    if (raw.length && ct.startsWith('multipart/form-data')) {
      const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': ct } }).formData();
      const file = form.get('file');
      const bytes = file && typeof file !== 'string' ? Buffer.from(await file.arrayBuffer()) : Buffer.alloc(0);
      body = {
        purpose: form.get('purpose'),
        filename: file && typeof file !== 'string' ? file.name : null,
        size: bytes.length,
        content: bytes.toString('utf8'),
      };
    } else if (raw.length) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = raw.toString('utf8');
      }
    }
    const rec: RecordedRequest = {
      method,
      path,
      route: match?.r.name ?? 'unknown',
      query: Object.fromEntries(u.searchParams),
      body,
      headers: { ...req.headers },
    };
    requests.push(rec);
    script.onRequest?.(rec);

    if (match) {
      const queue = faults.get(match.r.name);
      const fault = queue?.shift();
      if (fault) {
        rec.fault = fault.kind;
        if (fault.kind === 'drop') {
          req.socket.destroy();
          return;
        }
        if (fault.kind === 'hang') {
          hanging.add(res);
          res.on('close', () => hanging.delete(res));
          return;
        }
        if (fault.kind === '429') {
          const headers: Record<string, string> = {};
          if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
          else headers['retry-after'] = String(fault.retryAfter ?? 1);
          return sendJson(res, 429, { error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } }, headers);
        }
        return sendJson(res, 500, { error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } });
      }
    }

    if (!authorized(req)) {
      // Echo the key like a careless server would, to test that callers redact it.
      const given = String(req.headers['api-key'] ?? req.headers.authorization ?? '').replace(/^Bearer /, '');
      return sendJson(res, 401, { error: { message: `Incorrect API key provided: ${given}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    }
    if (!match) throw new HttpError(404, `Unknown route ${method} ${path}`);
    const id = match.m![1] ? decodeURIComponent(match.m![1]) : '';

    switch (match.r.name) {
      case 'POST /v1/files': {
        if (!body || typeof body !== 'object' || !body.purpose) throw new HttpError(400, 'purpose and file are required');
        const f = storeFile(String(body.purpose), String(body.filename ?? 'upload'), Buffer.from(body.content, 'utf8'));
        return sendJson(res, 200, fileObject(f));
      }
      case 'GET /v1/files/:id': {
        const f = files.get(id);
        if (!f) throw new HttpError(404, `No such File object: ${id}`);
        return sendJson(res, 200, fileObject(f));
      }
      case 'GET /v1/files/:id/content': {
        const f = files.get(id);
        if (!f) throw new HttpError(404, `No such File object: ${id}`);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': f.bytes.length });
        res.end(f.bytes);
        return;
      }
      case 'POST /v1/batches':
        return sendJson(res, 200, createBatch(body));
      case 'GET /v1/batches':
        return sendJson(res, 200, { object: 'list', data: [...batches.values()].map((b) => b.obj).reverse(), has_more: false });
      case 'GET /v1/batches/:id': {
        const st = batches.get(id);
        if (!st) throw new HttpError(404, `No such batch: ${id}`);
        return sendJson(res, 200, advanceBatch(st));
      }
      case 'POST /v1/batches/:id/cancel': {
        const st = batches.get(id);
        if (!st) throw new HttpError(404, `No such batch: ${id}`);
        if (!['completed', 'failed', 'expired', 'cancelled'].includes(st.obj.status)) {
          st.cancelRequested = true;
          st.statuses = [...st.statuses.slice(0, st.step + 1), 'cancelling', 'cancelled'];
          st.step++;
          st.obj.status = 'cancelling';
          st.obj.cancelling_at = now();
        }
        return sendJson(res, 200, st.obj);
      }
      case 'POST /v1/chat/completions': {
        if (!body || !Array.isArray(body.messages)) throw new HttpError(400, "'messages' is a required property");
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          if (opts.chatDelayMs) await new Promise((r) => setTimeout(r, opts.chatDelayMs));
          return sendJson(res, 200, completion(body));
        } finally {
          inFlight--;
        }
      }
      case 'POST /v1/responses': {
        if (!body || typeof body !== 'object') throw new HttpError(400, 'a JSON body is required');
        return sendJson(res, 200, response(body));
      }
      case 'POST /v1/fine_tuning/jobs':
        return sendJson(res, 200, createJob(body));
      case 'GET /v1/fine_tuning/jobs/:id': {
        const st = jobs.get(id);
        if (!st) throw new HttpError(404, `No such job: ${id}`);
        return sendJson(res, 200, advanceJob(st));
      }
      case 'GET /v1/fine_tuning/jobs/:id/events': {
        const st = jobs.get(id);
        if (!st) throw new HttpError(404, `No such job: ${id}`);
        const newestFirst = [...st.events].reverse();
        const limit = Number(u.searchParams.get('limit') ?? 20);
        const after = u.searchParams.get('after');
        const start = after ? newestFirst.findIndex((e) => e.id === after) + 1 : 0;
        const data = newestFirst.slice(start, start + limit);
        return sendJson(res, 200, { object: 'list', data, has_more: start + limit < newestFirst.length });
      }
      case 'POST /v1/fine_tuning/jobs/:id/cancel': {
        const st = jobs.get(id);
        if (!st) throw new HttpError(404, `No such job: ${id}`);
        st.statuses = [...st.statuses.slice(0, st.step + 1), 'cancelled'];
        return sendJson(res, 200, advanceJob(st));
      }
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) return;
      if (err instanceof HttpError) {
        sendJson(res, err.status, { error: { message: err.message, type: err.type, param: null, code: err.code } });
      } else {
        sendJson(res, 500, { error: { message: String(err), type: 'server_error', param: null, code: null } });
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    baseURL: `${url}/v1`,
    requests,
    files,
    batches,
    jobs,
    script,
    count(route, o) {
      return requests.filter((r) => r.route === route && (o?.faulted === undefined || (r.fault !== undefined) === o.faulted)).length;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get inFlight() {
      return inFlight;
    },
    inject(route, fault, times = 1) {
      const f: Fault = typeof fault === 'string' ? { kind: fault } : fault;
      const q = faults.get(route) ?? [];
      for (let i = 0; i < times; i++) q.push(f);
      faults.set(route, q);
    },
    setResponder(r) {
      responder = r;
    },
    async stop() {
      for (const res of hanging) res.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- fixtures shared by the llm-* tests ------------------------------------------------------

/** A fake API key, unique per test process, that must never show up in any journal. */
export const TEST_KEY = `sk-test-${randomBytes(12).toString('hex')}`;

const madeTempDirs = new Set<string>();

/** Removes every folder `tempDir` made (each test file calls it in `afterAll`). */
export function removeTempDirs(): void {
  for (const d of madeTempDirs) rmSync(d, { recursive: true, force: true });
  madeTempDirs.clear();
}

export async function tempDir(prefix = 'asmgraph-llm-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  madeTempDirs.add(d);
  return d;
}

export function chatRequests(n: number, model = 'gpt-4o-mini', prefix = 'r') {
  return Array.from({ length: n }, (_, i) => ({
    custom_id: `${prefix}-${i}`,
    body: {
      model,
      messages: [
        { role: 'system', content: 'You will write only the code of a random program in pure C++.' },
        { role: 'user', content: `prompt ${prefix}-${i}` },
      ],
      max_tokens: 500,
    },
  }));
}

/** Echoes the user prompt inside a C++ program so tests can check that results joined correctly. */
export const echoResponder: Responder = (body, choice) => {
  const prompt = body.messages.at(-1).content;
  return `Sure.\n\n\`\`\`cpp\n// ${prompt} choice ${choice}\nint main() { return 0; }\n\`\`\`\n`;
};

export function contentOf(r: { ok: boolean; body?: any }): string {
  return r.ok ? r.body.choices[0].message.content : '';
}
