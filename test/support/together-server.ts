/**
 * A local Together AI server for tests: a real node:http server on 127.0.0.1 (random port) with the
 * routes the official `together-ai` SDK calls for fine-tuning — the two-step file upload (POST /files
 * answered 302 to a signed PUT URL with the file id in `x-together-file-id`), file retrieval, price
 * estimates, jobs, their events and metrics — and Together's OpenAI-compatible chat completions, for
 * eval. Scripted outcomes and fault injection (429 with Retry-After, 500, dropped connections).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export type TogetherRoute =
  | 'POST /v1/files'
  | 'PUT /upload/:id'
  | 'GET /v1/files/:id'
  | 'POST /v1/fine-tunes/estimate-price'
  | 'POST /v1/fine-tunes'
  | 'GET /v1/fine-tunes'
  | 'GET /v1/fine-tunes/:id'
  | 'GET /v1/fine-tunes/:id/events'
  | 'GET /v1/fine-tunes/:id/metrics'
  | 'POST /v1/chat/completions';

export interface TogetherRequest {
  method: string;
  path: string;
  route: TogetherRoute | 'unknown';
  query: Record<string, string>;
  body: any;
  headers: Record<string, string | string[] | undefined>;
  fault?: string;
}

export interface TogetherJobScript {
  outcome?: 'completed' | 'error' | 'cancelled';
  /** Retrieves the job stays `running` (default 2). */
  runningPolls?: number;
  /** Metrics records written while running (default 4). */
  steps?: number;
}

interface Job {
  obj: any;
  statuses: string[];
  step: number;
  events: any[];
  metrics: any[];
  script: TogetherJobScript;
}

export interface TogetherServer {
  url: string;
  /** What to give the SDK and the OpenAI client: `url + '/v1'`. */
  baseURL: string;
  requests: TogetherRequest[];
  files: Map<string, { id: string; filename: string; purpose: string; bytes: Buffer | null }>;
  jobs: Map<string, Job>;
  script: {
    jobs: TogetherJobScript[];
    /** $ per 1M tokens for the price estimate (default 0.48). */
    usdPerMillion: number;
    /** The account's credit limit in $ (allowed_to_proceed is false above it). */
    userLimit: number;
    onRequest?: (r: TogetherRequest) => void;
  };
  count(route: TogetherRoute, opts?: { faulted?: boolean }): number;
  /** '500-after': the request is carried out, then answered 500 (the SDK does not retry a 500). */
  inject(route: TogetherRoute, fault: '429' | '500' | '503' | 'drop' | '500-after', times?: number): void;
  setResponder(r: (body: any) => string): void;
  stop(): Promise<void>;
}

const ROUTES: { method: string; re: RegExp; name: TogetherRoute }[] = [
  { method: 'POST', re: /^\/v1\/files$/, name: 'POST /v1/files' },
  { method: 'PUT', re: /^\/upload\/([^/]+)$/, name: 'PUT /upload/:id' },
  { method: 'GET', re: /^\/v1\/files\/([^/]+)$/, name: 'GET /v1/files/:id' },
  { method: 'POST', re: /^\/v1\/fine-tunes\/estimate-price$/, name: 'POST /v1/fine-tunes/estimate-price' },
  { method: 'POST', re: /^\/v1\/fine-tunes$/, name: 'POST /v1/fine-tunes' },
  { method: 'GET', re: /^\/v1\/fine-tunes$/, name: 'GET /v1/fine-tunes' },
  { method: 'GET', re: /^\/v1\/fine-tunes\/([^/]+)$/, name: 'GET /v1/fine-tunes/:id' },
  { method: 'GET', re: /^\/v1\/fine-tunes\/([^/]+)\/events$/, name: 'GET /v1/fine-tunes/:id/events' },
  { method: 'GET', re: /^\/v1\/fine-tunes\/([^/]+)\/metrics$/, name: 'GET /v1/fine-tunes/:id/metrics' },
  { method: 'POST', re: /^\/v1\/chat\/completions$/, name: 'POST /v1/chat/completions' },
];

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const rid = (p: string) => `${p}${randomBytes(8).toString('hex')}`;
const iso = () => new Date().toISOString();

export async function startTogetherServer(opts: { apiKey: string; responder?: (body: any) => string }): Promise<TogetherServer> {
  let responder = opts.responder ?? (() => 'Hello from Together.');
  const requests: TogetherRequest[] = [];
  const files: TogetherServer['files'] = new Map();
  const jobs = new Map<string, Job>();
  const faults = new Map<TogetherRoute, string[]>();
  const sockets = new Set<Socket>();
  const script: TogetherServer['script'] = { jobs: [], usdPerMillion: 0.48, userLimit: 100 };
  let url = '';

  const tokensOf = (id: string | undefined) => {
    const f = id ? files.get(id) : undefined;
    return f?.bytes ? Math.ceil(f.bytes.length / 4) : 0;
  };

  const event = (job: Job, type: string, message: string, level = 'info') =>
    job.events.push({ object: 'fine-tune-event', created_at: iso(), type, message, level });

  const advance = (job: Job) => {
    if (job.step < job.statuses.length - 1) job.step++;
    const status = job.statuses[job.step]!;
    const before = job.obj.status;
    job.obj.status = status;
    job.obj.updated_at = iso();
    if (status === before && status !== 'running') return job.obj;
    if (status === 'queued') event(job, 'job_pending', 'Fine-tune job is queued');
    if (status === 'running') {
      if (before !== 'running') event(job, 'training_start', 'Training started');
      const polls = job.statuses.filter((s) => s === 'running').length;
      const done = job.statuses.slice(0, job.step + 1).filter((s) => s === 'running').length;
      const total = job.script.steps ?? 4;
      while (job.metrics.length < Math.ceil((total * done) / polls)) {
        const step = job.metrics.length + 1;
        job.metrics.push({ step, train_loss: +(2 / (1 + step)).toFixed(4), ...(job.obj.validation_file ? { eval_loss: +(2.2 / (1 + step)).toFixed(4) } : {}) });
        event(job, 'checkpoint_save', `Checkpoint saved at step ${step}`);
      }
    }
    if (status === 'completed') {
      const base = String(job.obj.model).split('/').pop();
      job.obj.model_output_name = `asmgraph-test/${base}-${job.obj.suffix ? `${job.obj.suffix}-` : ''}${randomBytes(3).toString('hex')}`;
      job.obj.token_count = tokensOf(job.obj.training_file) * (job.obj.n_epochs ?? 1);
      job.obj.total_price = +((job.obj.token_count / 1e6) * script.usdPerMillion).toFixed(6);
      event(job, 'job_complete', `Fine-tuning completed: ${job.obj.model_output_name}`);
    }
    if (status === 'error') event(job, 'job_error', 'Training failed: the training file has too few tokens for one batch', 'error');
    if (status === 'cancelled') event(job, 'job_stopped', 'Job cancelled');
    return job.obj;
  };

  const send = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) => {
    const data = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers });
    res.end(data);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const match = ROUTES.map((r) => ({ r, m: r.method === method ? r.re.exec(u.pathname.replace(/\/+$/, '')) : null })).find((x) => x.m);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    let body: any;
    if (match?.r.name === 'PUT /upload/:id') body = { size: raw.length };
    else if (raw.length) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = raw.toString('utf8');
      }
    }
    const rec: TogetherRequest = { method, path: u.pathname, route: match?.r.name ?? 'unknown', query: Object.fromEntries(u.searchParams), body, headers: { ...req.headers } };
    requests.push(rec);
    script.onRequest?.(rec);
    if (match) {
      const fault = faults.get(match.r.name)?.shift();
      if (fault && fault !== '500-after') {
        rec.fault = fault;
        if (fault === 'drop') return void req.socket.destroy();
        if (fault === '429') return send(res, 429, { error: { message: 'rate limited', type: 'rate_limit' } }, { 'retry-after': '1' });
        return send(res, fault === '503' ? 503 : 500, { error: { message: 'internal error', type: 'server_error' } });
      }
      if (fault) rec.fault = fault;
    }
    const answer = rec.fault === '500-after'
      ? (r: ServerResponse, _status: number, _value: unknown) => send(r, 500, { error: { message: 'internal error after the work was done', type: 'server_error' } })
      : send;
    // The signed upload URL needs no key; everything else does.
    if (match?.r.name !== 'PUT /upload/:id' && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      const given = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
      return send(res, 401, { error: { message: `Invalid API key provided: ${given}`, type: 'invalid_request_error' } });
    }
    if (!match) throw new HttpError(404, `Unknown route ${method} ${u.pathname}`);
    const id = match.m![1] ? decodeURIComponent(match.m![1]) : '';
    switch (match.r.name) {
      case 'POST /v1/files': {
        const purpose = u.searchParams.get('purpose');
        const name = u.searchParams.get('file_name');
        if (purpose !== 'fine-tune' || !name) throw new HttpError(400, 'file_name and purpose=fine-tune are required');
        const fid = rid('file-');
        files.set(fid, { id: fid, filename: name, purpose, bytes: null });
        res.writeHead(302, { location: `${url}/upload/${fid}`, 'x-together-file-id': fid, 'content-length': 0 });
        return void res.end();
      }
      case 'PUT /upload/:id': {
        const f = files.get(id);
        if (!f) throw new HttpError(404, 'no such upload');
        f.bytes = raw;
        res.writeHead(200, { 'content-length': 0 });
        return void res.end();
      }
      case 'GET /v1/files/:id': {
        const f = files.get(id);
        if (!f) throw new HttpError(404, `no such file ${id}`);
        return send(res, 200, { id: f.id, object: 'file', filename: f.filename, purpose: f.purpose, bytes: f.bytes?.length ?? 0, created_at: Math.floor(Date.now() / 1000), FileType: 'jsonl', Processed: true, LineCount: f.bytes ? f.bytes.toString('utf8').trim().split('\n').length : 0 });
      }
      case 'POST /v1/fine-tunes/estimate-price': {
        if (!files.get(body?.training_file)?.bytes) throw new HttpError(400, `invalid training_file ${body?.training_file}`);
        const train = tokensOf(body.training_file) * (body.n_epochs ?? 1);
        const evalTokens = tokensOf(body.validation_file) * (body.n_evals ?? 0);
        const price = +(((train + evalTokens) / 1e6) * script.usdPerMillion * (body.training_type?.type === 'Full' ? 2 : 1)).toFixed(6);
        return send(res, 200, { estimation_available: true, estimated_total_price: price, allowed_to_proceed: price <= script.userLimit, user_limit: script.userLimit, estimated_train_token_count: train, estimated_eval_token_count: evalTokens });
      }
      case 'POST /v1/fine-tunes': {
        if (!files.get(body?.training_file)?.bytes) throw new HttpError(400, `invalid training_file ${body?.training_file}`);
        if (body.validation_file && !files.get(body.validation_file)?.bytes) throw new HttpError(400, 'invalid validation_file');
        if (typeof body.model !== 'string') throw new HttpError(400, 'model is required');
        const s = script.jobs.shift() ?? {};
        const running = Array.from({ length: s.runningPolls ?? 2 }, () => 'running');
        const outcome = s.outcome ?? 'completed';
        const statuses = outcome === 'completed' ? ['pending', 'queued', ...running, 'uploading', 'completed'] : ['pending', 'queued', ...running, outcome];
        const obj = {
          id: rid('ft-'), status: 'pending', user_id: 'user-test', created_at: iso(), updated_at: iso(), model: body.model,
          training_file: body.training_file, validation_file: body.validation_file ?? null, n_epochs: body.n_epochs ?? 1, suffix: body.suffix ?? null,
          training_type: body.training_type ?? { type: 'Lora', lora_r: 8, lora_alpha: 8 }, training_method: body.training_method ?? { method: 'sft' },
          learning_rate: body.learning_rate ?? 0.00001, model_output_name: null,
        };
        const job: Job = { obj, statuses, step: 0, events: [], metrics: [], script: s };
        jobs.set(obj.id, job);
        event(job, 'job_pending', `Fine-tune request created: ${obj.id}`);
        return answer(res, 200, obj);
      }
      case 'GET /v1/fine-tunes':
        return send(res, 200, { data: [...jobs.values()].map((j) => j.obj).reverse() });
      case 'GET /v1/fine-tunes/:id': {
        const job = jobs.get(id);
        if (!job) throw new HttpError(404, `no such job ${id}`);
        return send(res, 200, advance(job));
      }
      case 'GET /v1/fine-tunes/:id/events': {
        const job = jobs.get(id);
        if (!job) throw new HttpError(404, `no such job ${id}`);
        return send(res, 200, { data: job.events });
      }
      case 'GET /v1/fine-tunes/:id/metrics': {
        const job = jobs.get(id);
        if (!job) throw new HttpError(404, `no such job ${id}`);
        return send(res, 200, { metrics: job.metrics });
      }
      case 'POST /v1/chat/completions': {
        if (!Array.isArray(body?.messages)) throw new HttpError(400, 'messages is required');
        const content = responder(body);
        return send(res, 200, {
          id: rid('chatcmpl-'), object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
          usage: { prompt_tokens: 50, completion_tokens: Math.ceil(content.length / 4), total_tokens: 50 + Math.ceil(content.length / 4) },
        });
      }
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) return;
      send(res, err instanceof HttpError ? err.status : 500, { error: { message: err instanceof Error ? err.message : String(err) } });
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
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    baseURL: `${url}/v1`,
    requests,
    files,
    jobs,
    script,
    count: (route, o) => requests.filter((r) => r.route === route && (o?.faulted === undefined || (r.fault !== undefined) === o.faulted)).length,
    inject(route, fault, times = 1) {
      const q = faults.get(route) ?? [];
      for (let i = 0; i < times; i++) q.push(fault);
      faults.set(route, q);
    },
    setResponder(r) {
      responder = r;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
