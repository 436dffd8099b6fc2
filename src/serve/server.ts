/**
 * The web view's HTTP server (node:http; a handful of routes need no framework):
 *
 *   GET  /                     the page (web/index.html; app.js, app.css beside it, served from the package)
 *   GET  /api/events           server-sent events: `snapshot` once, then `delta` per change (≤ 20/s)
 *   GET  /api/state            the same snapshot as JSON
 *   GET  /api/program?key=     one program's page data (read from the project and build/)
 *   GET  /api/map?key=&target= source line per assembly line (via g++ -fverbose-asm)
 *   GET  /api/plots            the dataset plots as inline SVG
 *   POST /api/exclude          {key, note}: writes curation.yaml;  POST /api/include {key}
 *   POST /api/prompt           {key, text}: writes the prompt sidecar
 *
 * Loopback by default; the Host header must name it (no DNS rebinding). Any other interface
 * needs a token, given once as `?token=` (then an HttpOnly cookie) or as `Authorization: Bearer`.
 * Writes also need a same-origin JSON request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { PACKAGE_ROOT } from '../package-root.js';
import { EditError, setExclusion, setPrompt } from './edits.js';
import { costPlot, tokensPlot, verdictPlot } from './plots.js';
import { type AsmAnnotator, programDetail, promptPathOf, scanSources, sourceLineMap, sourceTargetOf } from './program.js';
import type { ProjectState } from './state.js';

/** web/ in the package. */
export const WEB_DIR = path.join(PACKAGE_ROOT, 'web');

const STATIC: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/app.css': 'app.css',
};
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

export interface ServeOptions {
  host: string;
  port: number;
  /** Required when host is not a loopback address. */
  token?: string;
  /** Compiles a program again for the line map (handed over with the kinds); without it the map is unavailable. */
  annotator?: AsmAnnotator;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export class UiServer {
  private server!: Server;
  private readonly clients = new Set<ServerResponse>();
  private flushTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private sources: Promise<Map<string, Record<string, string>>> | undefined;
  port = 0;

  constructor(
    private readonly state: ProjectState,
    private readonly o: ServeOptions,
  ) {}

  /** Called by the state on every change: pushes one delta per 50 ms at most. */
  schedule(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      const d = this.state.takeDelta();
      if (d?.cycle) this.sources = undefined; // files may have come or gone
      if (d && this.clients.size) this.broadcast('delta', JSON.stringify(d));
    }, 50);
  }

  private broadcast(event: string, data: string): void {
    for (const c of this.clients) c.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  async listen(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        const status = err instanceof EditError ? err.status : 500;
        if (!res.headersSent) this.json(res, status, { error: (err as Error).message });
        else res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.write(': keep-alive\n\n');
    }, 15_000);
    this.heartbeat.unref();
    const host = this.o.host.includes(':') ? `[${this.o.host}]` : this.o.host;
    return `http://${host}:${this.port}/${this.o.token ? `?token=${encodeURIComponent(this.o.token)}` : ''}`;
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    clearTimeout(this.flushTimer);
    for (const c of this.clients) c.end();
    this.clients.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(text);
  }

  private allowedHost(req: IncomingMessage): boolean {
    if (!isLoopback(this.o.host)) return true; // the token guards it
    const h = (req.headers.host ?? '').toLowerCase();
    return [`127.0.0.1:${this.port}`, `localhost:${this.port}`, `[::1]:${this.port}`, `${this.o.host}:${this.port}`].includes(h);
  }

  private authorized(req: IncomingMessage, url: URL): boolean {
    if (!this.o.token) return true;
    const given = url.searchParams.get('token')
      ?? /(?:^|;\s*)asmgraph_token=([^;]+)/.exec(req.headers.cookie ?? '')?.[1]
      ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!given) return false;
    const a = Buffer.from(decodeURIComponent(given));
    const b = Buffer.from(this.o.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown>> {
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new EditError('expected a JSON body', 415);
    const origin = req.headers.origin;
    if (origin && new URL(origin).host !== req.headers.host) throw new EditError('cross-origin request refused', 403);
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > 1 << 20) throw new EditError('request too large', 413);
      chunks.push(c as Buffer);
    }
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
    if (!v || typeof v !== 'object') throw new EditError('expected a JSON object');
    return v as Record<string, unknown>;
  }

  private sourceMap(): Promise<Map<string, Record<string, string>>> {
    const p = this.state.pipeline;
    const def = sourceTargetOf(p, this.state.snapshot().verdictTarget);
    if (!def) return Promise.resolve(new Map());
    return (this.sources ??= scanSources(p, def));
  }

  private keyOf(v: unknown): string {
    if (typeof v !== 'string' || !v || v.length > 500) throw new EditError('expected "key": a program name');
    if (!this.state.row(v)) throw new EditError(`no program "${v}" in the current build`, 404);
    return v;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!this.allowedHost(req)) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end(`asmgraph serve answers only to 127.0.0.1:${this.port}\n`);
      return;
    }
    if (!this.authorized(req, url)) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('a token is required: open the URL asmgraph serve printed\n');
      return;
    }
    if (this.o.token && url.searchParams.has('token') && req.method === 'GET' && url.pathname === '/') {
      // Trade the URL's token for a cookie, and drop it from the address bar.
      res.writeHead(303, { location: '/', 'set-cookie': `asmgraph_token=${encodeURIComponent(this.o.token)}; HttpOnly; SameSite=Strict; Path=/` }).end();
      return;
    }
    const file = STATIC[url.pathname];
    if (req.method === 'GET' && file) {
      const data = await fsp.readFile(path.join(WEB_DIR, file));
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file)],
        'cache-control': 'no-cache',
        'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
        'x-content-type-options': 'nosniff',
      });
      res.end(data);
      return;
    }
    if (!url.pathname.startsWith('/api/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (!this.state.pipeline && url.pathname !== '/api/events') {
      this.json(res, 503, { error: 'the pipeline is still loading' });
      return;
    }
    if (req.method === 'GET') {
      switch (url.pathname) {
        case '/api/events': {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
          res.write(`retry: 1000\nevent: snapshot\ndata: ${JSON.stringify(this.state.snapshot())}\n\n`);
          this.clients.add(res);
          req.on('close', () => this.clients.delete(res));
          return;
        }
        case '/api/state':
          this.json(res, 200, this.state.snapshot());
          return;
        case '/api/program': {
          const key = url.searchParams.get('key') ?? '';
          const d = await programDetail(this.state, key, await this.sourceMap());
          if (!d) this.json(res, 404, { error: `no program "${key}"` });
          else this.json(res, 200, d);
          return;
        }
        case '/api/map': {
          const r = await sourceLineMap(this.state, url.searchParams.get('key') ?? '', url.searchParams.get('target') ?? '', await this.sourceMap(), this.o.annotator);
          this.json(res, 'error' in r ? 422 : 200, r);
          return;
        }
        case '/api/plots': {
          const s = this.state.snapshot();
          const report = s.dataset?.report;
          this.json(res, 200, {
            dataset: s.dataset?.target,
            tokens: tokensPlot(s.rows, report),
            verdicts: verdictPlot(s.rows, s.verdictTarget),
            cost: costPlot(report),
            summary: report ? { examples: report.examples, tokens: report.tokens, cost: report.cost, model: report.model, limit: report.limitPerExample } : undefined,
          });
          return;
        }
        default:
          break;
      }
    }
    if (req.method === 'POST') {
      const p = this.state.pipeline;
      const ds = this.state.snapshot().dataset?.target ?? [...p.targets.values()].find((d) => d.kindName === 'dataset')?.name;
      switch (url.pathname) {
        case '/api/exclude': {
          const b = await this.body(req);
          const key = this.keyOf(b.key);
          const note = typeof b.note === 'string' ? b.note.slice(0, 2000) : '';
          this.json(res, 200, { wrote: await setExclusion(p, ds, key, note) });
          return;
        }
        case '/api/include': {
          const b = await this.body(req);
          this.json(res, 200, { wrote: await setExclusion(p, ds, this.keyOf(b.key), undefined) });
          return;
        }
        case '/api/prompt': {
          const b = await this.body(req);
          const key = this.keyOf(b.key);
          if (typeof b.text !== 'string' || !b.text.trim()) throw new EditError('expected "text": the prompt');
          const def = sourceTargetOf(p, this.state.snapshot().verdictTarget);
          const rel = def ? promptPathOf(def, (await this.sourceMap()).get(key)) : undefined;
          this.json(res, 200, { wrote: await setPrompt(p, rel, b.text) });
          return;
        }
        default:
          break;
      }
    }
    this.json(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  }
}
