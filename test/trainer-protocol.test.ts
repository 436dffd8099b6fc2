/**
 * The line protocol between a local trainer and `finetune` (backend: command), with a stand-in
 * trainer that speaks it (test/fixtures/stand-in-trainer.mjs; the TRL recipe in examples/train/ is
 * not run here): formatted progress, loss and checkpoints shown live and kept in the node's log, the
 * model path from $OUT, the final loss and the checkpoints in the node's facts.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newTrainerState, trainerLine } from '../tasks/lib/trainer-protocol.js';
import { makeProject, readTree, REPO, runCli } from './support/cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

describe('trainerLine', () => {
  it('formats protocol lines and keeps the state; other lines pass through', () => {
    const st = newTrainerState();
    expect(trainerLine('{"event":"start","examples":57,"epochs":3,"total_steps":171,"max_length":6144}', st)).toBe('trainer started: 57 examples, 3 epochs, 171 steps, max length 6144');
    expect(trainerLine('{"event":"progress","epoch":1.33,"step":76}', st)).toBe('trainer: epoch 1.33 step 76/171');
    expect(trainerLine('{"event":"loss","epoch":1.33,"step":76,"loss":0.41234,"eval_loss":0.455,"learning_rate":0.00018}', st)).toBe('epoch 1.33 step 76/171: loss 0.4123, eval loss 0.455, lr 0.00018');
    expect(trainerLine('{"loss": 0.3, "step": 80}', st)).toBe('step 80/171: loss 0.3');
    expect(trainerLine('{"event":"checkpoint","epoch":2,"step":114,"path":"/m/checkpoint-114"}', st)).toBe('checkpoint at epoch 2 step 114/171: /m/checkpoint-114');
    expect(trainerLine('{"event":"log","level":"warn","message":"slow"}', st)).toBe('warn: slow');
    expect(trainerLine('Loading checkpoint shards: 100%', st)).toBe('Loading checkpoint shards: 100%');
    expect(trainerLine('{not json', st)).toBe('{not json');
    expect(trainerLine('{"event":"done","model":"/m/final"}', st)).toBe('trainer done: /m/final');
    expect(st).toMatchObject({ lastLoss: 0.3, lastEvalLoss: 0.455, steps: 114, totalSteps: 171, checkpoints: ['/m/checkpoint-114'], model: '/m/final', lossLines: 2 });
  });
});

describe('finetune backend: command with the stand-in trainer', () => {
  it('shows progress and loss live, keeps them in the node log, and records the model path from $OUT', async () => {
    const example = (i: number) => JSON.stringify({ messages: [{ role: 'system', content: 's' }, { role: 'user', content: `prints ${i}` }, { role: 'assistant', content: `movl $${i}, %eax` }] });
    const dir = await makeProject({
      'data/train.jsonl': Array.from({ length: 12 }, (_, i) => example(i)).join('\n') + '\n',
      'data/valid.jsonl': example(99) + '\n',
      'trainer.mjs': await fsp.readFile(path.join(REPO, 'test/fixtures/stand-in-trainer.mjs'), 'utf8'),
      'pipeline.yaml': `version: 1
default: [tuned]
targets:
  dataset: { kind: files, params: { glob: data/train.jsonl, as: train, sidecars: { valid: data/valid.jsonl } } }
  tuned:
    kind: finetune
    from: dataset
    params:
      backend: command
      model: Qwen/Qwen2.5-Coder-1.5B-Instruct
      hyperparameters: { n_epochs: 2, batch_size: 4 }
      command: node "$PROJECT_ROOT/trainer.mjs" --output-dir "$PROJECT_ROOT/models/run"
`,
    });
    dirs.push(dir);
    const r = await runCli(dir, ['--json'], {});
    expect(r.code, r.stderr).toBe(0);
    const final = path.join(dir, 'models/run/final');
    expect(await fsp.readFile(path.join(dir, 'build/model.txt'), 'utf8')).toBe(`${final}\n`);
    const shown = r.events.filter((e) => e.type === 'progress' && e.id === 'tuned').map((e) => String(e.line));
    const started = /trainer started: 12 examples, 2 epochs, 6 steps, max length \d+/;
    const expected = [
      'loading the base model (stand-in)',
      'trainer: epoch 0.33 step 1/6',
      'epoch 0.33 step 1/6: loss 1, lr 0.0002',
      'epoch 1 step 3/6: eval loss 0.55',
      `checkpoint at epoch 1 step 3/6: ${path.join(dir, 'models/run/checkpoint-3')}`,
      'epoch 2 step 6/6: loss 0.2857, lr 0.0002',
      `trainer done: ${final}`,
    ];
    // Live lines (the status line shows the newest; --json coalesces bursts) are the formatted ones.
    expect(shown.length).toBeGreaterThan(0);
    expect(shown.at(-1)).toBe(`trainer done: ${final}`);
    for (const l of shown) expect(l.startsWith('{'), l).toBe(false);
    const done = r.events.find((e) => e.type === 'node-done' && e.id === 'tuned')!;
    expect(done.meta).toMatchObject({ backend: 'command', modelId: final, finalLoss: 0.2857, finalEvalLoss: 0.3143, steps: 6, checkpoints: 2, lastCheckpoint: path.join(dir, 'models/run/checkpoint-6') });
    for (const c of ['checkpoint-3', 'checkpoint-6', 'final']) expect((await fsp.stat(path.join(dir, 'models/run', c))).isDirectory()).toBe(true);
    // The node's log (a blob of its action record) holds the same formatted lines.
    const blobs = Object.values(await readTree(path.join(dir, 'cache')));
    const log = blobs.find((t) => started.test(t))!;
    expect(log).toBeDefined();
    const lines = log.split('\n');
    let at = lines.findIndex((l) => started.test(l));
    for (const line of expected) {
      const i = lines.indexOf(line, at + 1);
      expect(i, `${line} after line ${at} in\n${log}`).toBeGreaterThan(at);
      at = i;
    }
    expect(log).not.toMatch(/^\{"event"/m);
  });
});
