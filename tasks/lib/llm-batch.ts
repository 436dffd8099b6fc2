/**
 * `mode: batch` for the per-item model kinds (describe, inputs): one Batch API batch for all the
 * items of a target that need an answer in a build, instead of one online request per item.
 *
 * Each node builds its one request and hands it to the engine's `gather` (RunContext.gather),
 * which flushes the round once every node of the target that has not finished waits in it (nodes
 * that are cached, up to date, have human data or need no request do not hold it up). The flush
 * asks once for identical requests (custom_id = a hash of the body), answers what the target's
 * journal already holds, resumes every open batch that holds one of the rest, and sends what is
 * left as new batches (`runBatch` with a fixed plan key: one per model, and per 50,000 lines or
 * 200 MB). Batch ids are journaled right after creation, so a killed or interrupted build resumes
 * the same batch and pays nothing twice. Each node then gets its own line back by custom_id.
 *
 * The journal is the target's, shared by its nodes: `resume/<target>/@gather/batch-<endpoint>.json`.
 */
import * as path from 'node:path';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import {
  DEFAULT_ENDPOINT, FileJournal, itemKey, messagesOf, maxTokensOf, runBatch, shapeChatBody, type LlmRequest, type ProviderConfig,
} from '../../src/llm/index.js';
import { hashJson } from '../../src/llm/json.js';
import { InfraError, type GatherContext, type JsonObject, type RunContext } from '../../src/task-api.js';
import { chatCost } from './chat-prices.js';
import {
  batchProgress, clientFor, endpointIdentity, fmtInt, fmtUsd, promptTokens, scrub, taskSignal,
} from './llm-params.js';

export type BatchedAnswer =
  | { ok: true; body: ChatCompletion; batches: string[] }
  /** `retry`: not the request's fault (expired, cancelled, a failed batch, a missing line): the next build asks again. */
  | { ok: false; error: string; retry: boolean; batches: string[] };

/** One FileJournal object per file in this process: the nodes and flushes of a target share it. */
const journals = new Map<string, FileJournal>();

function sharedJournal(file: string): FileJournal {
  let j = journals.get(file);
  if (!j) journals.set(file, (j = new FileJournal(file)));
  return j;
}

/** The request of one item, with a custom_id that names its content (so equal requests are one line). */
export function batchRequest(prefix: string, body: JsonObject): LlmRequest {
  return { custom_id: `${prefix}-${hashJson(body).slice(0, 24)}`, body };
}

/**
 * Sends `req` as a line of the target's batch and resolves with its answer. `pollMs` is the time
 * between status polls. Errors that concern the whole batch (credentials, an unreachable server,
 * `--max-cost`) reject every node of the round.
 */
export function batchedChat(ctx: RunContext, cfg: ProviderConfig, req: LlmRequest, pollMs: number): Promise<BatchedAnswer> {
  // One round per server (and Azure API version), each with its own plan in the journal. Settings
  // that only change how it is asked (retries, timeouts, the poll interval) do not split a batch:
  // the first node's are used, and a re-run with other values still resumes the same batch.
  const group = hashJson({ endpoint: endpointIdentity(cfg), apiVersion: cfg.apiVersion ?? null }).slice(0, 32);
  return ctx.gather<LlmRequest, BatchedAnswer>(`llm-batch:${group}`, req, (reqs, g) => flush(cfg, pollMs, group, reqs, g));
}

async function flush(cfg: ProviderConfig, pollMs: number, group: string, reqs: LlmRequest[], g: GatherContext): Promise<BatchedAnswer[]> {
  const unique = [...new Map(reqs.map((r) => [r.custom_id, r])).values()];
  const client = clientFor(cfg);
  const journal = sharedJournal(path.join(await g.persistentDir(), `batch-${endpointIdentity(cfg)}.json`));
  const cap = g.flags.maxCost;
  if (cap !== undefined) {
    // Only what is not answered yet costs anything.
    let usd: number | null = 0;
    let n = 0;
    for (const r of unique) {
      const body = shapeChatBody(DEFAULT_ENDPOINT, r.body) as Record<string, unknown>;
      if (await journal.get(itemKey(DEFAULT_ENDPOINT, { custom_id: r.custom_id, body }))) continue;
      n++;
      const c = chatCost(String(body.model), promptTokens(messagesOf(body)), maxTokensOf(body), true);
      usd = usd === null || c === null ? null : usd + c;
    }
    if (usd !== null && usd > cap) {
      throw new InfraError(
        `the ${fmtInt(n)} requests of ${g.target}'s batch could cost up to ${fmtUsd(usd)}, over --max-cost ${fmtUsd(cap)}; nothing was sent`,
        'raise --max-cost, or lower max_tokens',
      );
    }
  }
  const batches = new Set<string>();
  const say = batchProgress((line) => g.progress(line));
  let results;
  try {
    results = await runBatch(client, unique, {
      journal, pollMs, signal: taskSignal(g.signal), planKey: `llm/batch-group/${group}`,
      metadata: { asmgraph_target: g.target.slice(0, 500) },
      onProgress: (e) => {
        if (e.type === 'created' || e.type === 'resumed') batches.add(e.batchId);
        say(e);
      },
    });
  } catch (err) {
    if (g.signal.aborted) throw err;
    throw scrub(err);
  }
  return reqs.map((r): BatchedAnswer => {
    const res = results.get(r.custom_id);
    const ids = [...batches];
    if (res?.ok) return { ok: true, body: res.body, batches: ids };
    const error = res ? res.error : 'no batch result';
    // A line the API answered with a client error (other than 429) fails the same way next time.
    const retry = !/^HTTP 4(?!29)\d\d\b/.test(error);
    return { ok: false, error, retry, batches: ids };
  });
}

/** What a failed line becomes for its node: a rejection (the request's fault) or a node failure (ask again). */
export function batchFailure(a: Extract<BatchedAnswer, { ok: false }>): { status: 'rejected'; reason: string; message: string } {
  const where = a.batches.length ? ` (batch ${a.batches.join(', ')})` : '';
  if (a.retry) {
    throw new InfraError(`not answered by the Batch API${where}: ${a.error}`, 'run the build again: only the unanswered requests are sent again');
  }
  return { status: 'rejected', reason: 'llm-error', message: `the Batch API refused the request${where}: ${a.error}` };
}
