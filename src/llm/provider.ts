/**
 * Creating an OpenAI SDK client for a provider, capability checks and secret redaction.
 *
 * API keys come only from the environment, never from configuration. Retries (exponential backoff
 * with jitter on 408/409/429/5xx, timeouts and dropped connections, honouring `Retry-After` and
 * `retry-after-ms`) are done by the SDK itself; `maxRetries` configures how many.
 */
import OpenAI, { AzureOpenAI } from 'openai';

export type ProviderKind = 'openai' | 'azure' | 'compatible' | 'together';
export type Capability = 'chat' | 'batch' | 'fine-tune';

export interface ProviderConfig {
  provider: ProviderKind;
  /** Base URL of the API (including `/v1` for OpenAI-style servers). Defaults to `OPENAI_BASE_URL`. */
  baseURL?: string;
  /** Azure only: the API version (defaults to `OPENAI_API_VERSION`). */
  apiVersion?: string;
  /** Azure only: a deployment name (sets `/deployments/<name>` for deployment-scoped endpoints). */
  deployment?: string;
  /** Retries per request on 429/5xx/timeouts/dropped connections (default 5). */
  maxRetries?: number;
  /** Per-attempt timeout in milliseconds (default 10 minutes). */
  timeoutMs?: number;
}

export type Env = Record<string, string | undefined>;

export const DEFAULT_MAX_RETRIES = 5;
export const DEFAULT_AZURE_API_VERSION = '2024-10-21';
/** Placeholder key for OpenAI-compatible local servers that do not check keys. */
export const COMPATIBLE_DUMMY_KEY = 'sk-no-key-required';

const CAPABILITIES: Record<ProviderKind, readonly Capability[]> = {
  openai: ['chat', 'batch', 'fine-tune'],
  azure: ['chat', 'batch', 'fine-tune'],
  // vLLM, llama.cpp and Ollama serve chat completions but no /v1/files, /v1/batches or /v1/fine_tuning.
  compatible: ['chat'],
  // Together AI's OpenAI-compatible chat endpoint (its fine-tuning is finetune's `backend: together`;
  // its batch API wants purpose batch-api files, which this client does not make).
  together: ['chat'],
};

/** Together AI's OpenAI-compatible API (TOGETHER_BASE_URL overrides it). */
export const TOGETHER_OPENAI_BASE_URL = 'https://api.together.xyz/v1';

/** Thrown for configuration problems a user must fix (missing key, unsupported capability). */
export class ProviderConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderConfigError';
  }
}

export function capabilities(cfg: Pick<ProviderConfig, 'provider'>): Capability[] {
  const caps = CAPABILITIES[cfg.provider];
  if (!caps) throw new ProviderConfigError(`unknown provider '${String(cfg.provider)}' (expected openai, azure, compatible or together)`);
  return [...caps];
}

export function hasCapability(cfg: Pick<ProviderConfig, 'provider'>, cap: Capability): boolean {
  return capabilities(cfg).includes(cap);
}

/** Throws a clear error when the provider cannot do `cap`. */
export function requireCapability(cfg: Pick<ProviderConfig, 'provider'>, cap: Capability): void {
  if (hasCapability(cfg, cap)) return;
  if (cap === 'batch') {
    throw new ProviderConfigError(
      `provider '${cfg.provider}' has no Batch API: set mode: online (concurrent chat completions) instead`,
    );
  }
  if (cap === 'fine-tune' && cfg.provider === 'together') {
    throw new ProviderConfigError(`fine-tuning on Together is finetune's params.backend: together (its own SDK), not a provider`);
  }
  if (cap === 'fine-tune') {
    throw new ProviderConfigError(
      `provider '${cfg.provider}' has no fine-tuning API: use the 'command' fine-tune backend (a local trainer) instead`,
    );
  }
  throw new ProviderConfigError(`provider '${cfg.provider}' does not support ${cap}`);
}

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v.trim() !== '' ? v : undefined;
}

/**
 * Creates an SDK client. Keys are read from `env` (the process environment by default):
 * `OPENAI_API_KEY` (openai; optional for compatible), `AZURE_OPENAI_API_KEY` + `AZURE_OPENAI_ENDPOINT`
 * (azure). `OPENAI_BASE_URL` is honoured when `cfg.baseURL` is not set.
 */
export function createClient(cfg: ProviderConfig, env: Env = process.env): OpenAI {
  for (const forbidden of ['apiKey', 'api_key', 'key', 'token']) {
    if (Object.hasOwn(cfg as object, forbidden)) {
      throw new ProviderConfigError(
        `API keys are never read from configuration (found '${forbidden}'): set OPENAI_API_KEY or AZURE_OPENAI_API_KEY in the environment`,
      );
    }
  }
  capabilities(cfg); // validates cfg.provider
  const maxRetries = cfg.maxRetries ?? DEFAULT_MAX_RETRIES;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new ProviderConfigError(`maxRetries must be a non-negative integer`);
  const common = {
    maxRetries,
    ...(cfg.timeoutMs !== undefined ? { timeout: cfg.timeoutMs } : {}),
    // Do not let the SDK read other credentials from process.env behind our back.
    organization: nonEmpty(env.OPENAI_ORG_ID) ?? null,
    project: nonEmpty(env.OPENAI_PROJECT_ID) ?? null,
    webhookSecret: null,
  };

  if (cfg.provider === 'azure') {
    const apiKey = nonEmpty(env.AZURE_OPENAI_API_KEY);
    if (!apiKey) throw new ProviderConfigError('AZURE_OPENAI_API_KEY is not set in the environment');
    let baseURL = cfg.baseURL ?? nonEmpty(env.OPENAI_BASE_URL);
    if (!baseURL) {
      const endpoint = nonEmpty(env.AZURE_OPENAI_ENDPOINT);
      if (!endpoint) throw new ProviderConfigError('AZURE_OPENAI_ENDPOINT is not set in the environment (or set baseURL)');
      baseURL = `${endpoint.replace(/\/+$/, '')}/openai`;
    }
    const apiVersion = cfg.apiVersion ?? nonEmpty(env.OPENAI_API_VERSION) ?? DEFAULT_AZURE_API_VERSION;
    return new AzureOpenAI({
      ...common,
      apiKey,
      baseURL,
      apiVersion,
      ...(cfg.deployment ? { deployment: cfg.deployment } : {}),
    });
  }

  if (cfg.provider === 'together') {
    const apiKey = nonEmpty(env.TOGETHER_API_KEY);
    if (!apiKey) throw new ProviderConfigError('TOGETHER_API_KEY is not set in the environment');
    return new OpenAI({ ...common, apiKey, adminAPIKey: null, baseURL: cfg.baseURL ?? nonEmpty(env.TOGETHER_BASE_URL) ?? TOGETHER_OPENAI_BASE_URL });
  }
  const baseURL = cfg.baseURL ?? nonEmpty(env.OPENAI_BASE_URL);
  if (cfg.provider === 'compatible') {
    if (!baseURL) throw new ProviderConfigError(`provider 'compatible' needs a baseURL (or OPENAI_BASE_URL)`);
    return new OpenAI({ ...common, apiKey: nonEmpty(env.OPENAI_API_KEY) ?? COMPATIBLE_DUMMY_KEY, baseURL });
  }
  const apiKey = nonEmpty(env.OPENAI_API_KEY);
  if (!apiKey) throw new ProviderConfigError('OPENAI_API_KEY is not set in the environment');
  return new OpenAI({ ...common, apiKey, adminAPIKey: null, ...(baseURL ? { baseURL } : { baseURL: 'https://api.openai.com/v1' }) });
}

const SECRET_NAME = /(_KEY|_TOKEN|_SECRET)$/i;

/** The values of environment variables whose names end in _KEY, _TOKEN or _SECRET. */
export function secretValues(env: Env = process.env): string[] {
  const values = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    // Very short values ("1", "no") would redact ordinary text and protect nothing.
    if (SECRET_NAME.test(name) && value && value.length >= 6) values.add(value);
  }
  return [...values].sort((a, b) => b.length - a.length);
}

/** Replaces every secret value (see `secretValues`) in `text` with `[REDACTED]`. */
export function redact(text: string, env: Env = process.env): string {
  let out = text;
  for (const v of secretValues(env)) out = out.split(v).join('[REDACTED]');
  return out;
}

/** `redact` plus the key the client itself holds (which may not come from process.env). */
export function redactFor(client: { apiKey?: unknown } | undefined, text: string, env: Env = process.env): string {
  let out = redact(text, env);
  const key = client?.apiKey;
  if (typeof key === 'string' && key.length >= 6) out = out.split(key).join('[REDACTED]');
  return out;
}

/** Redacts an error's message (and stack) in place before it travels further; returns it. */
export function scrubError<E>(client: { apiKey?: unknown } | undefined, err: E): E {
  if (err instanceof Error) {
    try {
      err.message = redactFor(client, err.message);
      if (err.stack) err.stack = redactFor(client, err.stack);
    } catch {
      // read-only message: leave it
    }
  }
  return err;
}
