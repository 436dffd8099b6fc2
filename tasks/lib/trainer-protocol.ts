/**
 * The line protocol between a local trainer (`finetune` with `backend: command`) and asmgraph.
 *
 * The trainer gets $TRAIN, $VALID (chat-messages JSONL), $OUT, $BASE_MODEL, $SUFFIX and
 * $HYPERPARAMETERS (JSON), and:
 *   - prints one JSON object per line on stdout for what asmgraph should show and keep:
 *       {"event":"start","examples":57,"epochs":3,"total_steps":171,"max_length":6144}
 *       {"event":"progress","epoch":1.33,"step":76,"total_steps":171}
 *       {"event":"loss","epoch":1.33,"step":76,"loss":0.412,"eval_loss":0.455,"learning_rate":0.00018}
 *       {"event":"checkpoint","epoch":2,"step":114,"path":"/…/checkpoint-114"}
 *       {"event":"log","level":"warn","message":"…"}
 *       {"event":"done","model":"/…/final"}
 *     (a bare object with `loss`, like a Hugging Face Trainer log record, counts as a loss line);
 *   - may print anything else too (shown and kept as it is);
 *   - writes the model id or path to $OUT and exits 0. A non-zero exit fails the node.
 * Every line is shown live (the status line) and kept in the node's log, formatted.
 */

export interface TrainerState {
  lastLoss: number | null;
  lastEvalLoss: number | null;
  steps: number | null;
  totalSteps: number | null;
  checkpoints: string[];
  model: string | null;
  lossLines: number;
}

export function newTrainerState(): TrainerState {
  return { lastLoss: null, lastEvalLoss: null, steps: null, totalSteps: null, checkpoints: [], model: null, lossLines: 0 };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(4).replace(/\.?0+$/, ''));

/** One stdout line → the text to show and keep (updating `state`); non-protocol lines come back as they are. */
export function trainerLine(raw: string, state: TrainerState): string {
  const line = raw.trimEnd();
  if (!line.startsWith('{')) return line;
  let o: Record<string, unknown>;
  try {
    const v = JSON.parse(line) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) return line;
    o = v as Record<string, unknown>;
  } catch {
    return line;
  }
  const event = typeof o.event === 'string' ? o.event : num(o.loss) !== null || num(o.eval_loss) !== null ? 'loss' : null;
  const step = num(o.step);
  const total = num(o.total_steps);
  const epoch = num(o.epoch);
  if (step !== null) state.steps = step;
  if (total !== null) state.totalSteps = total;
  const where = [epoch !== null ? `epoch ${fmt(epoch)}` : '', step !== null ? `step ${step}${state.totalSteps !== null ? `/${state.totalSteps}` : ''}` : ''].filter(Boolean).join(' ');
  switch (event) {
    case 'start': {
      const bits = [num(o.examples) !== null ? `${o.examples} examples` : '', num(o.epochs) !== null ? `${o.epochs} epochs` : '', total !== null ? `${total} steps` : '', num(o.max_length) !== null ? `max length ${o.max_length}` : ''].filter(Boolean);
      return `trainer started${bits.length ? `: ${bits.join(', ')}` : ''}`;
    }
    case 'progress':
      return `trainer: ${where || 'working'}`;
    case 'loss': {
      const loss = num(o.loss);
      const evalLoss = num(o.eval_loss);
      if (loss !== null) state.lastLoss = loss;
      if (evalLoss !== null) state.lastEvalLoss = evalLoss;
      state.lossLines++;
      const parts = [loss !== null ? `loss ${fmt(loss)}` : '', evalLoss !== null ? `eval loss ${fmt(evalLoss)}` : '', num(o.learning_rate) !== null ? `lr ${fmt(num(o.learning_rate)!)}` : ''].filter(Boolean);
      return `${where ? `${where}: ` : ''}${parts.join(', ')}`;
    }
    case 'checkpoint': {
      const p = typeof o.path === 'string' ? o.path : '?';
      state.checkpoints.push(p);
      return `checkpoint${where ? ` at ${where}` : ''}: ${p}`;
    }
    case 'log':
      return `${typeof o.level === 'string' && o.level !== 'info' ? `${o.level}: ` : ''}${typeof o.message === 'string' ? o.message : line}`;
    case 'done':
      if (typeof o.model === 'string') state.model = o.model;
      return `trainer done${typeof o.model === 'string' ? `: ${o.model}` : ''}`;
    default:
      return line;
  }
}
