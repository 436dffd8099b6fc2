/**
 * The dataset's remembered token counts (tasks/lib/model-tokens.ts rememberingCounter): counts equal
 * the tokenizer's own, a second run counts only new texts, and a damaged or foreign file is ignored.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rememberingCounter, tokenCounter } from '../tasks/lib/model-tokens.js';

let dir: string;
beforeAll(async () => { dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'asmgraph-token-memo-')); });
afterAll(async () => { await fsp.rm(dir, { recursive: true, force: true }); });

const texts = ['main:\n\tpushq\t%rbp\n\tmovq\t%rsp, %rbp\n', 'Write a program that prints 42.', '#include <cstdio>\nint main() { std::puts("hi"); }\n'];

describe('remembered token counts', () => {
  it('count as the tokenizer does, and a second run counts only the text it has not seen', async () => {
    const file = path.join(dir, 'qwen.json');
    const direct = await tokenCounter('qwen2');
    const first = await rememberingCounter('qwen2', file);
    for (const t of texts) expect(await first.count(t)).toBe(direct(t));
    expect(first.counted()).toBe(3);
    await first.save();

    const second = await rememberingCounter('qwen2', file);
    for (const t of texts) expect(await second.count(t)).toBe(direct(t));
    expect(await second.count('a new text')).toBe(direct('a new text'));
    expect(second.counted()).toBe(1);
    await second.save();
    // Only the entries used in the run are kept.
    const third = await rememberingCounter('qwen2', file);
    expect(await third.count(texts[0]!)).toBe(direct(texts[0]!));
    await third.save();
    expect(Object.keys(JSON.parse(await fsp.readFile(file, 'utf8')).counts)).toHaveLength(1);
  });

  it('ignores a damaged file, a forged count and another tokenizer\'s file', async () => {
    const direct = await tokenCounter('o200k');
    const damaged = path.join(dir, 'damaged.json');
    await fsp.writeFile(damaged, '{"tokenizer": "o200k gpt-tok');
    const a = await rememberingCounter('o200k', damaged);
    expect(await a.count(texts[0]!)).toBe(direct(texts[0]!));
    expect(a.counted()).toBe(1);

    const qwenFile = path.join(dir, 'qwen-for-o200k.json');
    const q = await rememberingCounter('qwen2', qwenFile);
    for (const t of texts) await q.count(t);
    await q.save();
    const asO200k = await rememberingCounter('o200k', qwenFile);
    for (const t of texts) expect(await asO200k.count(t)).toBe(direct(t));
    expect(asO200k.counted()).toBe(3);

    const forged = path.join(dir, 'forged.json');
    const f = await rememberingCounter('o200k', forged);
    await f.count(texts[1]!);
    await f.save();
    const j = JSON.parse(await fsp.readFile(forged, 'utf8'));
    for (const k of Object.keys(j.counts)) j.counts[k] = -5;
    await fsp.writeFile(forged, JSON.stringify(j));
    const g = await rememberingCounter('o200k', forged);
    expect(await g.count(texts[1]!)).toBe(direct(texts[1]!));
    expect(g.counted()).toBe(1);
  });
});
