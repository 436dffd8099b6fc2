import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { runBatch, splitIntoBatches, type BatchProgress } from '../src/llm/batch.js';
import { FileJournal, MemoryJournal } from '../src/llm/journal.js';
import { createClient, type ProviderConfig } from '../src/llm/provider.js';
import { startOpenAIServer, type OpenAIServer, chatRequests, contentOf, echoResponder, tempDir, TEST_KEY, removeTempDirs } from './support/openai-server.js';

afterAll(removeTempDirs);

const clientFor = (s: OpenAIServer, cfg: Partial<ProviderConfig> = {}) =>
  createClient({ provider: 'openai', baseURL: s.baseURL, maxRetries: 3, ...cfg }, { OPENAI_API_KEY: TEST_KEY });

let server: OpenAIServer;
beforeEach(async () => {
  server = await startOpenAIServer({ apiKey: TEST_KEY, responder: echoResponder });
});
afterEach(async () => {
  await server.stop();
});

const uploadedIds = (s: OpenAIServer) =>
  s.requests
    .filter((r) => r.route === 'POST /v1/files' && !r.fault)
    .map((r) => (r.body.content as string).trim().split('\n').map((l) => JSON.parse(l).custom_id as string));

describe('runBatch', () => {
  it('runs a batch and joins shuffled output on custom_id', async () => {
    const journal = new MemoryJournal();
    const reqs = chatRequests(6);
    const events: BatchProgress[] = [];
    let journaledBeforeFirstPoll: unknown = 'unset';
    server.script.onRequest = (r) => {
      if (r.route === 'GET /v1/batches/:id' && journaledBeforeFirstPoll === 'unset') {
        journaledBeforeFirstPoll = [...journal.entries.entries()].find(([k]) => k.startsWith('llm/batch-set/'))?.[1];
      }
    };
    const results = await runBatch(clientFor(server), reqs, { journal, pollMs: 5, onProgress: (e) => events.push(e) });

    expect([...results.keys()]).toEqual(reqs.map((r) => r.custom_id));
    for (const r of reqs) {
      const res = results.get(r.custom_id)!;
      expect(res.ok).toBe(true);
      expect(contentOf(res)).toContain(`// prompt ${r.custom_id} choice 0`);
    }
    // The server really shuffled the output file.
    const batch = [...server.batches.values()][0]!;
    const outIds = server.files.get(batch.obj.output_file_id)!.bytes.toString().trim().split('\n').map((l) => JSON.parse(l).custom_id);
    expect(outIds).not.toEqual(reqs.map((r) => r.custom_id));
    // The batch id was journaled before the first poll.
    expect(JSON.stringify(journaledBeforeFirstPoll)).toContain(batch.obj.id);
    // Upload and batch shape.
    const upload = server.requests.find((r) => r.route === 'POST /v1/files')!;
    expect(upload.body.purpose).toBe('batch');
    const line = JSON.parse(upload.body.content.split('\n')[0]);
    expect(line).toMatchObject({ custom_id: 'r-0', method: 'POST', url: '/v1/chat/completions' });
    const create = server.requests.find((r) => r.route === 'POST /v1/batches')!;
    expect(create.body).toMatchObject({ endpoint: '/v1/chat/completions', completion_window: '24h' });
    // Progress: created, then statuses through to completed.
    const types = events.map((e) => e.type);
    expect(types.indexOf('created')).toBeLessThan(types.indexOf('status'));
    const statuses = events.filter((e) => e.type === 'status').map((e) => (e as any).status);
    expect(statuses).toEqual(['in_progress', 'finalizing', 'completed']);
    expect(events.at(-1)).toMatchObject({ type: 'finished', ok: 6, failed: 0 });
  });

  it('a re-run with the same journal sends zero requests', async () => {
    const journal = new MemoryJournal();
    const reqs = chatRequests(4);
    const first = await runBatch(clientFor(server), reqs, { journal, pollMs: 5 });
    const before = server.requests.length;
    const second = await runBatch(clientFor(server), reqs, { journal, pollMs: 5 });
    expect(server.requests.length).toBe(before);
    expect(second).toEqual(first);
  });

  it('splits at the request limit and by model', async () => {
    const reqs = [...chatRequests(7), ...chatRequests(2, 'gpt-4.1-nano', 'n')];
    const results = await runBatch(clientFor(server), reqs, { journal: new MemoryJournal(), pollMs: 5, maxRequestsPerBatch: 3 });
    expect(server.count('POST /v1/batches')).toBe(4);
    expect(uploadedIds(server).map((ids) => ids.length)).toEqual([3, 3, 1, 2]);
    expect([...results.values()].every((r) => r.ok)).toBe(true);
    for (const r of reqs) expect(contentOf(results.get(r.custom_id)!)).toContain(`prompt ${r.custom_id} `);
  });

  it('splits at the byte limit', () => {
    const reqs = chatRequests(10);
    const oneLine = JSON.stringify({ custom_id: 'r-0', method: 'POST', url: '/v1/chat/completions', body: reqs[0]!.body }).length + 1;
    const chunks = splitIntoBatches(reqs, { maxBytes: oneLine * 4 + 10 });
    expect(chunks.map((c) => c.requests.length)).toEqual([4, 4, 2]);
    for (const c of chunks) expect(Buffer.byteLength(c.jsonl)).toBeLessThanOrEqual(oneLine * 4 + 10);
  });

  it('rejects duplicate custom_ids before sending anything', async () => {
    const reqs = [...chatRequests(2), chatRequests(1)[0]!];
    await expect(runBatch(clientFor(server), reqs, { journal: new MemoryJournal(), pollMs: 5 })).rejects.toThrow(/duplicate custom_id 'r-0'/);
    expect(server.requests.length).toBe(0);
  });

  it('resumes the same batch after an interruption right after creation', async () => {
    const dir = await tempDir();
    const path = join(dir, 'journal.json');
    const reqs = chatRequests(5);
    const ac = new AbortController();
    await expect(
      runBatch(clientFor(server), reqs, {
        journal: new FileJournal(path),
        pollMs: 5,
        signal: ac.signal,
        onProgress: (e) => {
          if (e.type === 'created') ac.abort(new Error('interrupted'));
        },
      }),
    ).rejects.toThrow('interrupted');
    expect(server.count('POST /v1/batches')).toBe(1);
    expect(await readFile(path, 'utf8')).toContain([...server.batches.keys()][0]);

    // A new process: a fresh journal object on the same file.
    const events: BatchProgress[] = [];
    const results = await runBatch(clientFor(server), reqs, { journal: new FileJournal(path), pollMs: 5, onProgress: (e) => events.push(e) });
    expect(server.count('POST /v1/batches')).toBe(1);
    expect(server.count('POST /v1/files')).toBe(1);
    expect(events.some((e) => e.type === 'resumed')).toBe(true);
    expect([...results.values()].every((r) => r.ok)).toBe(true);
  });

  it('a fixed plan key resumes by request, not by set: a changed set sends only its new requests, and answers not asked for are kept', async () => {
    const journal = new MemoryJournal();
    const [a, b, c, d] = chatRequests(4);
    const ac = new AbortController();
    const planKey = 'llm/batch-group/test';
    await expect(runBatch(clientFor(server), [a!, b!, c!], {
      journal, pollMs: 5, planKey, signal: ac.signal,
      onProgress: (e) => {
        if (e.type === 'created') ac.abort(new Error('interrupted'));
      },
    })).rejects.toThrow('interrupted');
    const first = [...server.batches.keys()][0]!;

    // c is no longer asked for, d is new: the open batch is resumed for a and b, only d is uploaded.
    const events: BatchProgress[] = [];
    const second = await runBatch(clientFor(server), [a!, b!, d!], { journal, pollMs: 5, planKey, onProgress: (e) => events.push(e) });
    expect(server.count('POST /v1/batches')).toBe(2);
    expect(uploadedIds(server)).toEqual([['r-0', 'r-1', 'r-2'], ['r-3']]);
    expect(events).toContainEqual({ type: 'resumed', batchId: first, requests: 3 });
    expect([...second.values()].every((r) => r.ok)).toBe(true);

    // c was answered in the first batch: asking for it now sends nothing.
    const before = server.requests.length;
    const third = await runBatch(clientFor(server), [c!], { journal, pollMs: 5, planKey });
    expect(server.requests.length).toBe(before);
    expect(contentOf(third.get('r-2')!)).toContain('prompt r-2 ');
  });

  it('expired with partial results: the next run re-submits only the missing custom_ids', async () => {
    const journal = new MemoryJournal();
    const reqs = chatRequests(5);
    server.script.batches.push({ outcome: 'expired', finished: 2 });
    const first = await runBatch(clientFor(server), reqs, { journal, pollMs: 5 });
    const ok = [...first].filter(([, r]) => r.ok).map(([id]) => id);
    const bad = [...first].filter(([, r]) => !r.ok);
    expect(ok).toHaveLength(2);
    expect(bad).toHaveLength(3);
    for (const [, r] of bad) expect(!r.ok && r.error).toMatch(/batch_expired/);

    const second = await runBatch(clientFor(server), reqs, { journal, pollMs: 5 });
    expect(server.count('POST /v1/batches')).toBe(2);
    expect(uploadedIds(server)[1]!.sort()).toEqual(bad.map(([id]) => id).sort());
    expect([...second.values()].every((r) => r.ok)).toBe(true);
    // Results from the first run are kept as they were.
    for (const id of ok) expect(second.get(id)).toEqual(first.get(id));
  });

  it('completed with no output file: every request is marked failed, and all are retried next time', async () => {
    const journal = new MemoryJournal();
    const reqs = chatRequests(3);
    server.script.batches.push({ outcome: 'completed_no_output' });
    const first = await runBatch(clientFor(server), reqs, { journal, pollMs: 5 });
    const batch = [...server.batches.values()][0]!.obj;
    expect(batch.status).toBe('completed');
    expect(batch.output_file_id).toBeNull();
    for (const r of first.values()) {
      expect(r.ok).toBe(false);
      expect(!r.ok && r.error).toMatch(/^HTTP 400: Invalid request/);
    }
    const second = await runBatch(clientFor(server), reqs, { journal, pollMs: 5 });
    expect(uploadedIds(server)[1]).toHaveLength(3);
    expect([...second.values()].every((r) => r.ok)).toBe(true);
  });

  it('per-request failures and an empty-string error_file_id are handled', async () => {
    const reqs = chatRequests(4);
    server.script.batches.push({ failIds: ['r-2'] }, { emptyErrorFileId: true });
    const journal = new MemoryJournal();
    const first = await runBatch(clientFor(server), reqs, { journal, pollMs: 5 });
    expect(first.get('r-2')).toMatchObject({ ok: false });
    expect([...first].filter(([, r]) => r.ok)).toHaveLength(3);
    const second = await runBatch(clientFor(server), reqs, { journal, pollMs: 5 });
    expect([...server.batches.values()][1]!.obj.error_file_id).toBe('');
    expect(uploadedIds(server)[1]).toEqual(['r-2']);
    expect(second.get('r-2')!.ok).toBe(true);
    // No download was attempted for the empty error file id.
    expect(server.requests.filter((r) => r.route === 'GET /v1/files/:id/content').map((r) => r.path)).not.toContain('/v1/files//content');
  });

  it('a failed batch (validation error) marks every request failed with the reason', async () => {
    server.script.batches.push({ outcome: 'failed' });
    const results = await runBatch(clientFor(server), chatRequests(3), { journal: new MemoryJournal(), pollMs: 5 });
    for (const r of results.values()) expect(!r.ok && r.error).toMatch(/failed: token_limit_exceeded/);
  });

  it('a cancelled batch keeps its partial results', async () => {
    server.script.batches.push({ outcome: 'cancelled', finished: 1 });
    const results = await runBatch(clientFor(server), chatRequests(3), { journal: new MemoryJournal(), pollMs: 5 });
    const vals = [...results.values()];
    expect(vals.filter((r) => r.ok)).toHaveLength(1);
    expect(vals.filter((r) => !r.ok && /batch_cancelled/.test(r.error))).toHaveLength(2);
  });

  it('survives dropped connections, 500s and 429s on the batch routes', async () => {
    server.inject('POST /v1/files', 'drop');
    server.inject('POST /v1/batches', '500');
    server.inject('GET /v1/batches/:id', { kind: '429', retryAfterMs: 20 }, 2);
    server.inject('GET /v1/files/:id/content', 'drop');
    const results = await runBatch(clientFor(server), chatRequests(3), { journal: new MemoryJournal(), pollMs: 5 });
    expect([...results.values()].every((r) => r.ok)).toBe(true);
    expect(server.count('POST /v1/files')).toBe(2);
    expect(server.count('POST /v1/batches')).toBe(2);
    expect(server.count('POST /v1/batches', { faulted: false })).toBe(1);
    expect(server.batches.size).toBe(1);
    expect(server.count('GET /v1/batches/:id', { faulted: true })).toBe(2);
  });

  it('resumes the same batch after the process is killed with SIGKILL after creation', async () => {
    // Compile src/llm to JS so a plain node child process can run it (no TS loader needed).
    const out = join(process.cwd(), 'node_modules', '.cache', `asmgraph-llm-test-${randomBytes(4).toString('hex')}`);
    await mkdir(out, { recursive: true });
    try {
      await promisify(execFile)(process.execPath, [
        join(process.cwd(), 'node_modules', 'typescript', 'lib', 'tsc.js'),
        join(process.cwd(), 'src', 'llm', 'index.ts'),
        '--outDir', out, '--rootDir', join(process.cwd(), 'src'), '--module', 'nodenext', '--moduleResolution', 'nodenext',
        '--target', 'es2022', '--resolveJsonModule', '--skipLibCheck', '--types', 'node', '--strict',
      ]);
      const child = join(out, 'child.mjs');
      await writeFile(
        child,
        `import { runBatch, FileJournal, createClient } from './llm/index.js';
const [baseURL, journalPath, reqs] = process.argv.slice(2);
const client = createClient({ provider: 'openai', baseURL, maxRetries: 0 });
await runBatch(client, JSON.parse(reqs), { journal: new FileJournal(journalPath), pollMs: 600000,
  onProgress: (e) => { if (e.type === 'created') process.stdout.write('CREATED ' + e.batchId + '\\n'); } });
process.stdout.write('FINISHED\\n');
`,
      );
      const dir = await tempDir();
      const path = join(dir, 'journal.json');
      const reqs = chatRequests(4);
      const proc = spawn(process.execPath, [child, server.baseURL, path, JSON.stringify(reqs)], {
        env: { ...process.env, OPENAI_API_KEY: TEST_KEY },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      proc.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, sig) => resolve(sig)));
      const batchId = await new Promise<string>((resolve, reject) => {
        let buf = '';
        proc.stdout.on('data', (d) => {
          buf += d;
          const m = /CREATED (\S+)/.exec(buf);
          if (m) resolve(m[1]!);
        });
        proc.on('exit', () => reject(new Error(`child exited before creating a batch: ${stderr}`)));
      });
      proc.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      expect(await readFile(path, 'utf8')).toContain(batchId);
      expect(server.count('POST /v1/batches')).toBe(1);

      const results = await runBatch(clientFor(server), reqs, { journal: new FileJournal(path), pollMs: 5 });
      expect(server.count('POST /v1/batches')).toBe(1);
      expect(server.count('POST /v1/files')).toBe(1);
      expect([...results.values()].every((r) => r.ok)).toBe(true);
      expect(await readFile(path, 'utf8')).not.toContain(TEST_KEY);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
