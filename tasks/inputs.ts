/**
 * `inputs`: test inputs written by a model for programs that need input and have none.
 *
 * Per program (from a `files` target): a program with human cases (`{stem}.stdin.txt`,
 * `{stem}.inputs/`) keeps them and nothing is sent; otherwise the C++ is built and run in the
 * sandbox on empty input (the same cached reference run validate makes), and only a program that
 * waits for input (`needs-input`) is sent to the chat model, which proposes a few stdin cases. Each
 * proposed case runs on the reference in the sandbox: a case that crashes, times out, floods its
 * output, is nondeterministic or is too short for the program (it waits for more) is dropped with
 * its reason; the kept ones feed validate (`with: { inputs: <this target> }`), whose human cases
 * still win.
 *
 * Output: `<item>.inputs.json` = `{ from, model?, cases: [{name, stdin}], dropped: [{name, stdin,
 * reason, message}] }` (`from`: `human`, `not-needed`, `model`).
 *
 * Like `describe`: one node per program, in the engine's `llm` pool, cached per (model, system
 * message, params, program hash) by the action key. `mode: online` (default) sends one request per
 * program and journals it per node; `mode: batch` hands it to the target's batch (tasks/lib/
 * llm-batch.ts: the engine's `gather` collects the requests of every program of the target that
 * needs input, one Batch API batch carries them, its id is journaled at once and a restarted build
 * resumes it). Either way an interrupted run never pays twice; `--dry-run` prints the request and
 * its cost bound (the Batch price in batch mode). The reference runs are the validate kind's cached
 * artifacts: with the same toolchain parameters and limits, validate reuses them.
 */
import type { ChatCompletion } from 'openai/resources/chat/completions';
import type {
  JsonObject, MapInput, MapKind, PlanContext, RunContext, TaskResult,
} from '../src/task-api.js';
import { chatCost } from './lib/chat-prices.js';
import { batchedChat, batchFailure, batchRequest } from './lib/llm-batch.js';
import { askOnline, type ChatRequest } from './lib/llm-online.js';
import {
  costRange, DEFAULT_POLL_MS, fmtInt, needCapability, pollMsSchema, promptTokens, providerConfig, providerSchema,
  type ProviderParams,
} from './lib/llm-params.js';
import { compileFlags, textProblem, toolchainFor, toolchainParamsSchema, type CompileParams } from './lib/cxx-params.js';
import { checkParamsSchema, programRunIdentity, reference, sandboxLimits, type ReferenceBuilds } from './lib/program-check.js';

export const DEFAULT_INPUTS_SYSTEM = `You will be given a C++ program that reads its standard input.
Write {count} different test inputs for it: a typical one, edge cases, and one a little larger. Each input must be complete and valid for the program, so that it runs to its normal end (for an interactive menu, finish with the choice that quits).
Answer with JSON only, no prose: {"cases": [{"name": "short-name", "stdin": "the exact text on standard input"}]}`;

interface InputsParams extends CompileParams {
  model: string;
  system?: string;
  count?: number;
  max_tokens?: number;
  temperature?: number;
  mode?: 'online' | 'batch';
  pollMs?: number;
  provider?: ProviderParams;
  timeoutMs?: number;
  memoryMB?: number;
}

/** A case as the model proposed it. */
export interface ProposedCase {
  name: string;
  stdin: string;
}

function request(p: InputsParams, code: string): ChatRequest {
  const count = p.count ?? 3;
  const system = (p.system ?? DEFAULT_INPUTS_SYSTEM).replace(/\{count\}/g, String(count));
  return {
    custom_id: 'inputs',
    body: {
      model: p.model,
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: code },
      ],
      max_tokens: p.max_tokens ?? 1000,
      ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
    },
  };
}

/**
 * The cases in a model's answer: a JSON object `{cases: [...]}` or a bare array, possibly inside a
 * ```json fence or with prose around it. Names become safe, unique file-like names.
 */
export function parseCases(text: string, max: number): ProposedCase[] | string {
  const fenced = /```(?:json)?\s*\n([\s\S]*?)```/.exec(text)?.[1];
  const body = (fenced ?? text).trim();
  const start = body.search(/[[{]/);
  if (start < 0) return 'the answer holds no JSON';
  const end = Math.max(body.lastIndexOf('}'), body.lastIndexOf(']'));
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.slice(start, end + 1));
  } catch (e) {
    return `the answer is not valid JSON (${e instanceof Error ? e.message : String(e)})`;
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { cases?: unknown })?.cases;
  if (!Array.isArray(list)) return 'the answer has no "cases" list';
  const out: ProposedCase[] = [];
  const used = new Set<string>();
  for (const [i, c] of list.entries()) {
    if (out.length >= max) break;
    const stdin = typeof c === 'string' ? c : typeof (c as { stdin?: unknown })?.stdin === 'string' ? (c as { stdin: string }).stdin : undefined;
    if (stdin === undefined) continue;
    const raw = typeof (c as { name?: unknown })?.name === 'string' ? (c as { name: string }).name : '';
    let name = raw.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 40) || `case-${i + 1}`;
    name = `${String(out.length + 1).padStart(2, '0')}-${name}`;
    while (used.has(name)) name += '-';
    used.add(name);
    out.push({ name, stdin });
  }
  return out.length ? out : 'the answer has no case with a "stdin" text';
}

const hasHumanCases = (files: Record<string, unknown>) => !!files.stdin || Object.keys(files).some((n) => n.startsWith('cases/'));

function pick(o: JsonObject, names: string[]): JsonObject {
  return Object.fromEntries(names.filter((n) => n in o).map((n) => [n, o[n]!]));
}

const out = (v: JsonObject) => `${JSON.stringify(v, null, 1)}\n`;

export const inputsKind: MapKind = {
  name: 'inputs',
  version: '1',
  mode: 'map',
  pool: 'llm',
  description: 'Test inputs for programs that wait for input and have no human cases: proposed by a chat model, kept if they run cleanly.',
  reads: { from: ['src', 'stdin', 'cases/*'] },
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['model'],
    properties: {
      model: { type: 'string', minLength: 1, description: 'Chat model.' },
      system: { type: 'string', minLength: 1, description: 'System message ({count} is replaced by `count`; default: asks for JSON {"cases": [{name, stdin}]}).' },
      count: { type: 'integer', minimum: 1, maximum: 20, description: 'How many cases to ask for (default 3).' },
      max_tokens: { type: 'integer', minimum: 1, description: 'Completion token limit (default 1000).' },
      temperature: { type: 'number', minimum: 0, maximum: 2 },
      mode: {
        enum: ['online', 'batch'],
        description: 'online (default): one chat request per program that needs input, in the llm pool; batch: the requests of all the target\'s programs that need input go as one Batch API batch (half the price, up to 24 h; resumed after a crash).',
      },
      pollMs: { ...pollMsSchema, description: 'mode batch: milliseconds between status polls of the batch (default 30000).' },
      provider: providerSchema,
      ...pick(checkParamsSchema, ['timeoutMs', 'memoryMB', 'nondeterminism']),
      ...toolchainParamsSchema,
    },
  },
  outputs: () => [{ name: 'cases', ext: '.inputs.json' }],
  async prepare(ctx) {
    // The same identity as validate's, so the reference runs are shared artifacts.
    return programRunIdentity(ctx);
  },

  async plan(input: MapInput, ctx: PlanContext): Promise<string[]> {
    const p = ctx.params as unknown as InputsParams;
    const id = `${ctx.target}/${input.item.key}`;
    const from = input.inputs.from;
    if (from && hasHumanCases(from.files)) return [`${id}: has human test cases; nothing to send`];
    if (!from?.files.src) return [`${id}: no source file; would be rejected`];
    const batch = p.mode === 'batch';
    needCapability(providerConfig(p.provider), batch ? 'batch' : 'chat');
    let pt: number;
    try {
      pt = promptTokens(request(p, (await ctx.read(from.files.src)).toString('utf8')).body.messages);
    } catch {
      pt = promptTokens(request(p, '').body.messages) + Math.ceil(from.files.src.size / 3.5);
    }
    const max = p.max_tokens ?? 1000;
    const what = batch ? `1 line of the target's batch` : '1 request';
    return [`${id}: ${what} if the program waits for input (known once it has run), ~${fmtInt(pt)} prompt tokens, at most ${fmtInt(max)} completion tokens, ${costRange(p.model, pt, max, batch)}; dry run: nothing sent`];
  },

  async run(input: MapInput, ctx: RunContext): Promise<TaskResult> {
    const p = ctx.params as unknown as InputsParams;
    const from = input.inputs.from;
    if (from && hasHumanCases(from.files)) return { status: 'ok', files: { cases: out({ from: 'human', cases: [], dropped: [] }) }, meta: { from: 'human' } };
    if (!from?.files.src) return { status: 'rejected', reason: 'no-source', message: `item ${input.item.key} has no "src" file` };
    const srcBytes = await ctx.read(from.files.src);
    const problem = textProblem(srcBytes);
    if (problem) return { status: 'rejected', reason: 'not-text', message: `source ${problem}` };
    const src = srcBytes.toString('utf8');
    const tc = await toolchainFor(ctx);
    const limits = sandboxLimits(p);
    const flags = compileFlags(tc, { ...p, clean: false });
    const builds: ReferenceBuilds = new Map();
    const probe = await reference(ctx, tc, p, src, Buffer.alloc(0), limits, flags, undefined, builds);
    if (probe.verdict !== 'needs-input') {
      return { status: 'ok', files: { cases: out({ from: 'not-needed', verdict: probe.verdict, cases: [], dropped: [] }) }, meta: { from: 'not-needed', verdict: probe.verdict } };
    }

    const cfg = providerConfig(p.provider);
    const batch = p.mode === 'batch';
    needCapability(cfg, batch ? 'batch' : 'chat');
    const req = request(p, src);
    let completion: ChatCompletion;
    if (batch) {
      const answer = await batchedChat(ctx, cfg, batchRequest('inputs', req.body as unknown as JsonObject), p.pollMs ?? DEFAULT_POLL_MS);
      if (!answer.ok) return batchFailure(answer);
      completion = answer.body;
      ctx.log(`answered in the target's batch (${answer.batches.join(', ') || 'from its journal'})`);
    } else {
      const online = await askOnline(ctx, cfg, req);
      if ('status' in online) return online;
      completion = online.completion;
    }
    const usage = completion.usage;
    const cost = chatCost(p.model, usage?.prompt_tokens ?? 0, usage?.completion_tokens ?? 0, batch);
    const spent: JsonObject = {
      model: p.model, ...(batch ? { mode: 'batch' } : {}), promptTokens: usage?.prompt_tokens ?? 0, completionTokens: usage?.completion_tokens ?? 0,
      ...(cost !== null ? { costUsd: Math.round(cost * 1e6) / 1e6 } : {}),
    };
    const proposed = parseCases(completion.choices[0]?.message?.content ?? '', p.count ?? 3);
    if (typeof proposed === 'string') {
      // The model's fault, not the program's: no case, and validate reports needs-input as before.
      ctx.log(`no usable case: ${proposed}`);
      return { status: 'ok', files: { cases: out({ from: 'model', model: p.model, cases: [], dropped: [], problem: proposed }) }, meta: { from: 'model', kept: 0, dropped: 0, problem: proposed, ...spent } };
    }
    const kept: JsonObject[] = [];
    const dropped: JsonObject[] = [];
    for (const c of proposed) {
      const stdin = Buffer.from(c.stdin, 'utf8');
      const r = stdin.length === 0 ? probe : await reference(ctx, tc, p, src, stdin, limits, flags, undefined, builds);
      if (r.verdict === 'ok') kept.push({ name: c.name, stdin: c.stdin });
      else {
        dropped.push({ name: c.name, stdin: c.stdin, reason: r.verdict, message: r.message });
        ctx.log(`case ${c.name} dropped (${r.verdict}): ${r.message}`);
      }
    }
    return {
      status: 'ok',
      files: { cases: out({ from: 'model', model: p.model, cases: kept, dropped }) },
      meta: { from: 'model', kept: kept.length, dropped: dropped.length, ...spent },
    };
  },
};
