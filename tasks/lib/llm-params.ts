/**
 * What the model-facing kinds (generate, describe, finetune) share: the `provider` and `mode`
 * parameter schemas, creating an SDK client from them, the resumable journal in the target's
 * persistent folder, prompt-token estimates and error scrubbing.
 *
 * API keys never appear in params (the schema has no place for them, `createClient` refuses them):
 * they come from OPENAI_API_KEY / AZURE_OPENAI_API_KEY. Neither keys nor OPENAI_BASE_URL enter the
 * action key, so pointing the same pipeline at another endpoint through the environment does not
 * re-run (and re-pay for) finished targets; an explicit `provider.baseURL` does.
 */
import { setMaxListeners } from 'node:events';
import * as path from 'node:path';
import type OpenAI from 'openai';
import { encodeO200k as encode } from './tokens.js';
import {
  createClient, FileJournal, ProviderConfigError, redact, requireCapability,
  type BatchProgress, type Capability, type ProviderConfig, type ProviderKind,
} from '../../src/llm/index.js';
import { hashJson } from '../../src/llm/json.js';
import { InfraError, type JsonObject, type RunContext } from '../../src/task-api.js';
import { chatCost } from './chat-prices.js';

export interface ProviderParams {
  type?: ProviderKind;
  baseURL?: string;
  apiVersion?: string;
  deployment?: string;
  maxRetries?: number;
  timeoutMs?: number;
}

export const providerSchema: JsonObject = {
  type: 'object',
  additionalProperties: false,
  description: 'Where requests go. API keys are never configured here: set OPENAI_API_KEY (or AZURE_OPENAI_API_KEY + AZURE_OPENAI_ENDPOINT) in the environment.',
  properties: {
    type: { enum: ['openai', 'azure', 'compatible', 'together'], description: 'openai (default), azure, compatible (vLLM, llama.cpp, Ollama: chat only), or together (Together AI\'s OpenAI-compatible chat, key TOGETHER_API_KEY).' },
    baseURL: { type: 'string', description: 'API base URL including /v1 (default: OPENAI_BASE_URL, else api.openai.com).' },
    apiVersion: { type: 'string', description: 'Azure API version (default OPENAI_API_VERSION or 2024-10-21).' },
    deployment: { type: 'string', description: 'Azure deployment name.' },
    maxRetries: { type: 'integer', minimum: 0, maximum: 20, description: 'Retries per request on 429/5xx/timeouts (default 5).' },
    timeoutMs: { type: 'integer', minimum: 1000, description: 'Per-attempt request timeout.' },
  },
};

export const modeSchema: JsonObject = {
  enum: ['batch', 'online'],
  description: 'batch: the Batch API (50% cheaper, up to 24 h); online: concurrent chat completions (settings.llmConcurrency at a time).',
};

export const pollMsSchema: JsonObject = {
  type: 'integer',
  minimum: 1,
  description: 'Milliseconds between status polls of a batch or fine-tuning job (default 30000).',
};

export const DEFAULT_POLL_MS = 30_000;

export function providerConfig(p: ProviderParams | undefined): ProviderConfig {
  const cfg: ProviderConfig = { provider: p?.type ?? 'openai' };
  if (p?.baseURL !== undefined) cfg.baseURL = p.baseURL;
  if (p?.apiVersion !== undefined) cfg.apiVersion = p.apiVersion;
  if (p?.deployment !== undefined) cfg.deployment = p.deployment;
  if (p?.maxRetries !== undefined) cfg.maxRetries = p.maxRetries;
  if (p?.timeoutMs !== undefined) cfg.timeoutMs = p.timeoutMs;
  return cfg;
}

/** Throws an InfraError when the provider cannot do `cap`. */
export function needCapability(cfg: ProviderConfig, cap: Capability): void {
  try {
    requireCapability(cfg, cap);
  } catch (err) {
    if (err instanceof ProviderConfigError) throw new InfraError(`${err.message}`);
    throw err;
  }
}

export function clientFor(cfg: ProviderConfig): OpenAI {
  try {
    return createClient(cfg);
  } catch (err) {
    if (err instanceof ProviderConfigError) throw new InfraError(`${redact(err.message)}`);
    throw err;
  }
}

/** Which server a journal's batch and job ids belong to (no secrets: URLs and names only). */
export function endpointIdentity(cfg: ProviderConfig, env: NodeJS.ProcessEnv = process.env): string {
  const baseURL = cfg.provider === 'together'
    ? (cfg.baseURL ?? env.TOGETHER_BASE_URL ?? 'https://api.together.xyz/v1')
    : (cfg.baseURL ?? env.OPENAI_BASE_URL ?? (cfg.provider === 'azure' ? env.AZURE_OPENAI_ENDPOINT : undefined) ?? 'https://api.openai.com/v1');
  return hashJson({ provider: cfg.provider, baseURL, deployment: cfg.deployment ?? null }).slice(0, 16);
}

/**
 * The journal of a target's LLM work, in its persistent folder: survives crashes and Ctrl-C, so a
 * pending batch or job is resumed instead of paid for twice. One file per endpoint: batch ids of one
 * server mean nothing to another.
 */
export async function journalFor(ctx: RunContext, cfg: ProviderConfig): Promise<FileJournal> {
  const dir = await ctx.persistentDir();
  return new FileJournal(path.join(dir, `journal-${endpointIdentity(cfg)}.json`));
}

/** An error whose message carries no secret values, for anything thrown out of a task. */
export function scrub(err: unknown): Error {
  if (err instanceof InfraError) return new InfraError(redact(err.message), err.hint ? redact(err.hint) : undefined);
  if (err instanceof Error) {
    const e = new Error(redact(err.message));
    e.name = err.name;
    return e;
  }
  return new Error(redact(String(err)));
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Estimated prompt tokens of a chat request (o200k_base; 3 per message + 3 reply priming). */
export function promptTokens(messages: ChatMessage[]): number {
  let n = 3;
  for (const m of messages) n += 3 + encode(m.content).length + encode(m.role).length;
  return n;
}

export function tokensOf(text: string): number {
  return encode(text).length;
}

export const fmtUsd = (usd: number): string => (usd < 0.01 && usd > 0 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`);
export const fmtInt = (n: number): string => n.toLocaleString('en-US');

/** "est. cost $a–$b" (or "no price known for <model>") for a token range. */
export function costRange(model: string, prompt: number, maxCompletion: number, batch: boolean): string {
  const lo = chatCost(model, prompt, 0, batch);
  const hi = chatCost(model, prompt, maxCompletion, batch);
  if (lo === null || hi === null) return `no price known for ${model}`;
  return `est. cost ${fmtUsd(lo)}–${fmtUsd(hi)}${batch ? ' (Batch API price, 50% off)' : ''}`;
}

/**
 * A signal that follows the task's, for long polls and many requests: the SDK adds an abort listener
 * per request and never removes it, which would trip Node's MaxListeners warning on the task's own
 * signal. This one has no listener limit and is dropped with the task.
 */
export function taskSignal(parent: AbortSignal): AbortSignal {
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  if (parent.aborted) ac.abort(parent.reason);
  else parent.addEventListener('abort', () => ac.abort(parent.reason), { once: true });
  return ac.signal;
}

/** Progress lines of a batch (uploaded, created, resumed, status changes, finished). */
export function batchProgress(say: (line: string) => void): (e: BatchProgress) => void {
  const last = new Map<string, string>();
  return (e) => {
    switch (e.type) {
      case 'cached':
        if (e.count) say(`${e.count}/${e.total} requests already answered (journal)`);
        break;
      case 'uploaded':
        say(`uploaded ${e.requests} requests (${fmtInt(e.bytes)} bytes) as ${e.fileId}`);
        break;
      case 'created':
        say(`batch ${e.batchId} created (${e.requests} requests)`);
        break;
      case 'resumed':
        say(`resuming batch ${e.batchId} (${e.requests} requests)`);
        break;
      case 'status': {
        const line = `batch ${e.batchId}: ${e.status} (${e.counts.completed}/${e.counts.total} done${e.counts.failed ? `, ${e.counts.failed} failed` : ''})`;
        if (last.get(e.batchId) !== line) say(line);
        last.set(e.batchId, line);
        break;
      }
      case 'finished':
        say(`batch ${e.batchId} ${e.status}: ${e.ok} ok, ${e.failed} failed`);
        break;
    }
  };
}
