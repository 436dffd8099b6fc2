/**
 * `eval-export`: an eval's verdicts become training data.
 *
 *   from: <eval target>          its report.json: every sample's answer and verdict (all test cases)
 *   with: dataset: <dataset>     the training set: its `train` file (for de-duplication) and report
 *                                (which split each prompt is in)
 *
 * format `sft` (rejection sampling): every answer that passed every test case, as one more
 * chat-messages example (the eval's system message, the prompt, the answer), in `train.jsonl` — a
 * dataset item a `finetune` target can take `from:`.
 *
 * format `dpo`: pairs of a passing and a failing answer to the same prompt, as preference data in
 * OpenAI's DPO format (`openai.jsonl`: input.messages, preferred_output, non_preferred_output) and TRL's
 * `DPOTrainer` conversational format (`trl.jsonl`: prompt, chosen, rejected). Near misses make the
 * most useful rejected answers, so failing answers are taken in order output-mismatch, timeout, crash,
 * link-error, assemble-error, no-asm; each prompt gives at most `maxPairsPerPrompt` pairs.
 *
 * Never mixing a held-out prompt into training: only prompts of the dataset's `train` split are
 * exported (an eval on the valid split yields nothing, with that reason). De-duplicated: an answer
 * whose assembly a training example (or an earlier answer) already has for that prompt is dropped; a
 * pair whose rejected answer is a training answer is dropped. Every dropped sample is counted by
 * reason in `report.json`.
 */
import { extractAsm } from '../src/eval/extract.js';
import { sha256 } from '../src/llm/index.js';
import {
  InfraError, type FileRef, type JsonObject, type ReduceInput, type ReduceKind, type RunContext, type TaskResult,
} from '../src/task-api.js';

interface ExportParams {
  format: 'sft' | 'dpo';
  models?: string[];
  maxPairsPerPrompt?: number;
  dir?: string;
}

/** Failing verdicts, nearest miss first. */
const FAIL_ORDER = ['output-mismatch', 'timeout', 'crash', 'link-error', 'assemble-error', 'no-asm'];

interface Sample {
  model: string;
  prompt: string;
  index: number;
  verdict: string;
  answer: string;
}

const norm = (s: string) => s.replace(/[ \t]+/g, ' ').replace(/\s*\n\s*/g, '\n').trim();
/** What makes two answers the same: their assembly (normalised), or the whole text when there is none. */
function answerKey(answer: string): string {
  const ex = extractAsm(answer);
  return sha256(norm(ex.ok ? ex.asm : answer));
}

export const evalExportKind: ReduceKind = {
  name: 'eval-export',
  version: '1',
  mode: 'reduce',
  pool: 'cpu',
  description: "Turns an eval's verdicts into training data: passing answers as SFT examples, (pass, fail) pairs as DPO data (OpenAI and TRL formats).",
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['format'],
    properties: {
      format: { enum: ['sft', 'dpo'], description: 'sft: passing answers as chat-messages examples (train.jsonl); dpo: preference pairs (openai.jsonl, trl.jsonl).' },
      models: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, description: "Only these models' answers (ids as in the eval report; default all)." },
      maxPairsPerPrompt: { type: 'integer', minimum: 1, maximum: 1000, description: 'dpo: pairs per prompt at most (default 4).' },
      dir: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$', description: 'Folder under the build folder (default the format: sft or dpo).' },
    },
  },
  reads: { from: ['json'], dataset: ['train', 'report'] },
  outputs: (params) => {
    const p = params as unknown as ExportParams;
    const dir = p.dir ?? p.format;
    return p.format === 'dpo'
      ? [{ name: 'openai', file: `${dir}/openai.jsonl` }, { name: 'trl', file: `${dir}/trl.jsonl` }, { name: 'report', file: `${dir}/report.json` }]
      : [{ name: 'train', file: `${dir}/train.jsonl` }, { name: 'report', file: `${dir}/report.json` }];
  },

  async run(input: ReduceInput, ctx: RunContext): Promise<TaskResult> {
    const p = ctx.params as unknown as ExportParams;
    const t = ctx.target;
    const evalView = (input.inputs.from ?? []).find((v) => v.status === 'ok' && v.files.json);
    if (!evalView) throw new InfraError(`${t}: \`from\` must be an eval target (its report.json)`);
    const ds = (input.inputs.dataset ?? []).find((v) => v.status === 'ok' && v.files.report);
    if (!ds) throw new InfraError(`${t}: needs \`with: {dataset: <dataset target>}\`: the training set to de-duplicate against, and which prompts are held out`);
    const json = async (ref: FileRef) => JSON.parse((await ctx.read(ref)).toString('utf8')) as Record<string, any>;
    const report = await json(evalView.files.json!);
    const dsReport = await json(ds.files.report!);
    const system: string = typeof report.settings?.system === 'string' ? report.settings.system : String(dsReport.system ?? '');
    const split = new Map<string, string>(((dsReport.perExample ?? []) as { key: string; split: string }[]).map((e) => [e.key, e.split]));
    const promptText = new Map<string, string>(((report.prompts ?? []) as { id: string; prompt: string }[]).map((x) => [x.id, x.prompt]));

    // What the training set already teaches, per prompt text.
    const trained = new Map<string, Set<string>>();
    if (ds.files.train) {
      for (const line of (await ctx.read(ds.files.train)).toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        const msgs = (JSON.parse(line) as { messages?: { role: string; content: string }[] }).messages ?? [];
        const user = msgs.find((m) => m.role === 'user')?.content;
        const answer = [...msgs].reverse().find((m) => m.role === 'assistant')?.content;
        if (user === undefined || answer === undefined) continue;
        const set = trained.get(user.trim()) ?? new Set<string>();
        set.add(answerKey(answer));
        trained.set(user.trim(), set);
      }
    }

    const dropped: Record<string, number> = {};
    const drop = (why: string, n = 1) => (dropped[why] = (dropped[why] ?? 0) + n);
    const byPrompt = new Map<string, Sample[]>();
    const models = p.models ? new Set(p.models) : null;
    for (const s of (report.samples ?? []) as Sample[]) {
      if (models && !models.has(s.model)) continue;
      const where = split.get(s.prompt);
      if (where !== 'train') {
        drop(where === undefined ? 'not-in-dataset' : 'held-out');
        continue;
      }
      const list = byPrompt.get(s.prompt) ?? [];
      list.push(s);
      byPrompt.set(s.prompt, list);
    }
    const sorted = (xs: Sample[]) => [...xs].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : a.index - b.index));
    const messagesOf = (prompt: string) => [
      ...(system ? [{ role: 'system', content: system }] : []),
      { role: 'user', content: prompt },
    ];
    const perPrompt: JsonObject = {};
    const lines: string[] = [];
    const trl: string[] = [];
    for (const key of [...byPrompt.keys()].sort()) {
      const prompt = promptText.get(key);
      if (prompt === undefined) {
        drop('no-prompt-text', byPrompt.get(key)!.length);
        continue;
      }
      const known = new Set(trained.get(prompt.trim()) ?? []);
      const samples = sorted(byPrompt.get(key)!);
      const passing: Sample[] = [];
      const seen = new Set<string>();
      for (const s of samples.filter((x) => x.verdict === 'ok')) {
        const k = answerKey(s.answer);
        if (known.has(k)) drop('already-in-training-set');
        else if (seen.has(k)) drop('duplicate-answer');
        else {
          seen.add(k);
          passing.push(s);
        }
      }
      if (p.format === 'sft') {
        for (const s of passing) lines.push(JSON.stringify({ messages: [...messagesOf(prompt), { role: 'assistant', content: s.answer }] }));
        perPrompt[key] = { passing: passing.length, exported: passing.length };
        continue;
      }
      // dpo: a passing answer already in the training set is still a fine "chosen".
      const chosen = samples.filter((x) => x.verdict === 'ok').filter((s, i, all) => all.findIndex((o) => answerKey(o.answer) === answerKey(s.answer)) === i);
      const failSeen = new Set<string>();
      const failing = samples
        .filter((x) => x.verdict !== 'ok')
        .sort((a, b) => FAIL_ORDER.indexOf(a.verdict) - FAIL_ORDER.indexOf(b.verdict))
        .filter((s) => {
          const k = answerKey(s.answer);
          if (known.has(k)) {
            drop('rejected-answer-in-training-set');
            return false;
          }
          if (failSeen.has(k)) return false;
          failSeen.add(k);
          return true;
        });
      let pairs = 0;
      if (chosen.length && failing.length) {
        const n = Math.min(p.maxPairsPerPrompt ?? 4, Math.max(chosen.length, failing.length));
        for (let i = 0; i < n; i++) {
          const good = chosen[i % chosen.length]!;
          const bad = failing[i % failing.length]!;
          const input = messagesOf(prompt);
          lines.push(JSON.stringify({ input: { messages: input }, preferred_output: [{ role: 'assistant', content: good.answer }], non_preferred_output: [{ role: 'assistant', content: bad.answer }] }));
          trl.push(JSON.stringify({ prompt: input, chosen: [{ role: 'assistant', content: good.answer }], rejected: [{ role: 'assistant', content: bad.answer }] }));
          pairs++;
        }
      } else {
        drop(chosen.length ? 'no-failing-answer' : 'no-passing-answer');
      }
      perPrompt[key] = { passing: chosen.length, failing: failing.length, pairs };
    }

    const heldOut = dropped['held-out'] ?? 0;
    const what = p.format === 'sft' ? 'examples' : 'pairs';
    const out: JsonObject = {
      format: p.format, source: { eval: evalView.key, split: report.settings?.split ?? null }, system,
      [what]: lines.length, prompts: Object.keys(perPrompt).length, dropped, perPrompt,
    };
    const summary = [
      `${t}: ${lines.length} ${p.format === 'sft' ? 'SFT examples (answers that passed every test case)' : 'DPO pairs (OpenAI and TRL formats)'} from ${Object.keys(perPrompt).length} training prompts` +
        (Object.keys(dropped).length ? `; dropped: ${Object.entries(dropped).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''),
    ];
    if (!lines.length) {
      const why = heldOut && !byPrompt.size
        ? `every sample of the eval is on a held-out prompt (the dataset's valid split), which never goes into training: run an eval with split: train`
        : `no ${what} to export (${Object.entries(dropped).map(([k, v]) => `${k} ${v}`).join(', ') || 'no samples'})`;
      return { status: 'rejected', reason: heldOut && !byPrompt.size ? 'held-out-only' : 'nothing-to-export', message: why, meta: { summary } };
    }
    const body = (xs: string[]) => `${xs.join('\n')}\n`;
    const reportText = `${JSON.stringify(out, null, 2)}\n`;
    const files: Record<string, string> = p.format === 'sft'
      ? { train: body(lines), report: reportText }
      : { openai: body(lines), trl: body(trl), report: reportText };
    return { status: 'ok', files, meta: { [what]: lines.length, dropped: dropped as JsonObject, summary } };
  },
};
