/**
 * A client for Bazel's HTTP remote-cache protocol, as bazel-remote and nginx's WebDAV module
 * serve it: blobs at `<url>/cas/<sha256>`, action records at `<url>/ac/<key>`, read with GET,
 * probed with HEAD, written with PUT. It checks nothing of what the server returns: that is the
 * layer above (layered.ts), which verifies every byte before use.
 *
 * Failure policy: a 404 is a miss. A reset connection or a 429/502/503/504 is tried up to three
 * times. Then a timeout, a 5xx, a refused connection, a refused credential
 * (401/403) or any other unexpected answer marks the remote unavailable for the rest of the run
 * and reports it once (`onUnavailable`); from then on every call is a miss or a no-op, so the
 * build goes on locally. The bearer token is sent in a header and appears in nothing else.
 */
import { UsageError } from '../pipeline/diagnostics.js';

export interface RemoteOptions {
  /** Bearer token (from ASMGRAPH_REMOTE_TOKEN); never printed, logged or stored. */
  token?: string;
  /** Per request, including the body (default 30 s). */
  timeoutMs?: number;
  /** Called once, when the remote first fails. */
  onUnavailable?: (reason: string) => void;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * Checks a remote-cache URL: http(s) only, https unless the host is loopback (a token and cache
 * entries must not cross a network in clear), no credentials in the URL. Returns it without a
 * trailing slash.
 */
export function checkRemoteUrl(raw: string, from = '--remote-cache'): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`${from}: "${raw}" is not a URL (expected e.g. https://cache.example.com/asmgraph)`);
  }
  if (url.username || url.password) {
    throw new UsageError(`${from}: the URL must not hold credentials; put the token in the environment variable ASMGRAPH_REMOTE_TOKEN`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`${from}: ${url.protocol} is not supported; use https://`);
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) {
    throw new UsageError(`${from}: plain http is allowed only to this machine (127.0.0.1, ::1, localhost); use https://${url.host}${url.pathname}`);
  }
  if (url.search || url.hash) throw new UsageError(`${from}: the URL must not have a query or fragment`);
  return url.toString().replace(/\/+$/, '');
}

export class HttpCache {
  /** Set once the remote has failed: nothing more is sent. */
  unavailable: string | undefined;
  /** Set once the server refused an upload (a read-only token): reads go on, uploads stop. */
  uploadsRefused: string | undefined;
  readonly stats = { get: 0, head: 0, put: 0, bytesDown: 0, bytesUp: 0, retries: 0 };
  private readonly timeoutMs: number;

  constructor(readonly base: string, private readonly opts: RemoteOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  get available(): boolean {
    return this.unavailable === undefined;
  }

  get writable(): boolean {
    return this.unavailable === undefined && this.uploadsRefused === undefined;
  }

  getBlob(hash: string): Promise<Buffer | undefined> {
    return this.get(`cas/${hash}`);
  }

  headBlob(hash: string): Promise<boolean> {
    return this.head(`cas/${hash}`);
  }

  putBlob(hash: string, bytes: Uint8Array): Promise<boolean> {
    return this.put(`cas/${hash}`, bytes);
  }

  getRecord(key: string): Promise<Buffer | undefined> {
    return this.get(`ac/${key}`);
  }

  putRecord(key: string, body: string): Promise<boolean> {
    return this.put(`ac/${key}`, Buffer.from(body));
  }

  private async get(rel: string): Promise<Buffer | undefined> {
    const res = await this.request('GET', rel);
    if (!res) return undefined;
    this.stats.get++;
    if (res.status === 404) return undefined;
    if (res.status !== 200) return this.fail(`GET /${rel.split('/')[0]}: HTTP ${res.status}${authHint(res.status, this.opts.token)}`);
    try {
      const bytes = Buffer.from(await res.arrayBuffer());
      this.stats.bytesDown += bytes.length;
      return bytes;
    } catch (err) {
      return this.fail(`GET /${rel.split('/')[0]}: ${describe(err, this.timeoutMs)}`);
    }
  }

  private async head(rel: string): Promise<boolean> {
    const res = await this.request('HEAD', rel);
    if (!res) return false;
    this.stats.head++;
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    this.fail(`HEAD /${rel.split('/')[0]}: HTTP ${res.status}${authHint(res.status, this.opts.token)}`);
    return false;
  }

  private async put(rel: string, body: Uint8Array): Promise<boolean> {
    const res = await this.request('PUT', rel, body);
    if (!res) return false;
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) {
      this.stats.put++;
      this.stats.bytesUp += body.length;
      return true;
    }
    // A token that may read but not write: keep reading, stop uploading.
    if ((res.status === 401 || res.status === 403) && this.stats.get + this.stats.head > 0 && this.uploadsRefused === undefined) {
      this.uploadsRefused = `HTTP ${res.status}`;
      this.opts.onUnavailable?.(`remote cache ${this.base} refused an upload (PUT /${rel.split('/')[0]}: HTTP ${res.status}); reading from it but uploading nothing for the rest of this run (--remote-read-only says so up front)`);
      return false;
    }
    if (this.uploadsRefused !== undefined) return false;
    // bazel-remote checks that an /ac/ upload is a Bazel ActionResult unless told not to.
    const hint = res.status === 400 && rel.startsWith('ac/') ? ': a bazel-remote server must run with --disable_http_ac_validation' : authHint(res.status, this.opts.token);
    this.fail(`PUT /${rel.split('/')[0]}: HTTP ${res.status}${hint}`);
    return false;
  }

  private async request(method: string, rel: string, body?: Uint8Array): Promise<Response | undefined> {
    if (this.unavailable !== undefined) return undefined;
    const headers: Record<string, string> = {};
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (body) headers['content-type'] = 'application/octet-stream';
    // Every request of the protocol is idempotent (a PUT stores bytes under their own hash or key),
    // so a transient failure is tried again before the remote is given up: a connection the server
    // reset (seen once in a 2,000-program gather run against nginx)
    // or a 502/503/504/429. A refused connection or a timeout is not retried.
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= RETRY_DELAYS_MS.length;
      let res: Response;
      try {
        res = await fetch(`${this.base}/${rel}`, { method, headers, body: body as BodyInit | undefined, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
      } catch (err) {
        if (!last && transient(err)) {
          this.stats.retries++;
          await delay(RETRY_DELAYS_MS[attempt]!);
          continue;
        }
        return this.fail(`${method} /${rel.split('/')[0]}: ${describe(err, this.timeoutMs)}`);
      }
      if (!last && RETRY_STATUS.has(res.status)) {
        await res.arrayBuffer().catch(() => undefined);
        this.stats.retries++;
        await delay(RETRY_DELAYS_MS[attempt]!);
        continue;
      }
      return res;
    }
  }

  private fail(reason: string): undefined {
    if (this.unavailable === undefined) {
      this.unavailable = reason;
      this.opts.onUnavailable?.(`remote cache ${this.base} unavailable (${reason}); building locally for the rest of this run`);
    }
    return undefined;
  }
}

function authHint(status: number, token: string | undefined): string {
  if (status !== 401 && status !== 403) return '';
  return token ? ': the server refused the token in ASMGRAPH_REMOTE_TOKEN' : ': the server wants a token; set ASMGRAPH_REMOTE_TOKEN';
}

/** Waits before the next try of a request (three tries in all). */
const RETRY_DELAYS_MS = [50, 250];
const RETRY_STATUS = new Set([429, 502, 503, 504]);

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A failure worth one more try: the connection broke, not refused and not silent. */
function transient(err: unknown): boolean {
  const e = err as { name?: string; cause?: { code?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return false;
  const code = e?.cause?.code;
  return code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED';
}

/** A fetch failure in words (the cause's code: ECONNREFUSED, a timeout, ...). */
function describe(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}`;
  const cause = e?.cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (cause?.code === 'ECONNRESET' || cause?.code === 'UND_ERR_SOCKET') return 'connection reset';
  if (cause?.code) return cause.code;
  return cause?.message ?? e?.message ?? String(err);
}
