/** The terminal display consumes engine events: a live line on a TTY, plain lines otherwise. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatSummary, prepareTerminal, terminalDisplay } from '../src/display.js';
import type { BuildSummary, EngineEvent } from '../src/engine/events.js';

function fakeStream(tty: boolean) {
  let text = '';
  const s = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  }) as Writable & { isTTY: boolean; columns: number; rows: number };
  s.isTTY = tty;
  s.columns = 100;
  s.rows = 40;
  return { stream: s as unknown as NodeJS.WriteStream, text: () => text };
}

const summary: BuildSummary = {
  ok: true, interrupted: false, total: 3, executed: 2, cached: 1, upToDate: 0, wouldRun: 0,
  rejected: { 'output-mismatch': 1 }, propagated: 0, failed: [], skipped: 0, hashedFiles: 2, wallMs: 1500,
};

const events: EngineEvent[] = [
  { type: 'build-start', targets: ['dataset'], jobs: 2, dryRun: false, time: Date.now() },
  { type: 'target-items', target: 'asm', items: 2 },
  { type: 'target-items', target: 'dataset', items: 1 },
  { type: 'node-start', id: 'asm/a', target: 'asm', item: 'a' },
  { type: 'node-done', id: 'asm/a', target: 'asm', item: 'a', outcome: 'executed', status: 'ok', durationMs: 120 },
  { type: 'node-done', id: 'asm/b', target: 'asm', item: 'b', outcome: 'cached', status: 'rejected', reason: 'output-mismatch', durationMs: 3 },
  { type: 'node-start', id: 'dataset', target: 'dataset' },
  { type: 'node-done', id: 'dataset', target: 'dataset', outcome: 'executed', status: 'ok', durationMs: 40 },
  { type: 'report', target: 'dataset', lines: ['dataset: 1 examples'] },
  { type: 'build-done', summary },
];

describe('terminal display', () => {
  it('on a TTY: a live status line with done/total, running, from cache, rejected, elapsed; then the summary', async () => {
    await prepareTerminal();
    const f = fakeStream(true);
    const d = terminalDisplay({ verbosity: 'normal', explain: false, tty: true, out: f.stream });
    for (const e of events) d.listener(e);
    const out = f.text();
    expect(out).toMatch(/\[1\/3\] running 0 · from cache 0 · rejected 0 · \d+ ms/);
    expect(out).toMatch(/\[3\/3\] running 0 · from cache 1 · rejected 1/);
    expect(out).toContain('dataset: 1 examples\n');
    expect(out).toContain('3 nodes: 2 executed, 1 restored from cache, 0 up to date (1.5 s)\n');
    expect(out).toContain('rejected: 1 (output-mismatch 1)\n');
  });

  it('off a TTY: plain lines, one per executed node, no escape codes', () => {
    const f = fakeStream(false);
    const d = terminalDisplay({ verbosity: 'normal', explain: false, tty: false, out: f.stream });
    for (const e of events) d.listener(e);
    expect(f.text()).toBe(
      ['executed asm/a (120 ms)', 'restored asm/b from cache  ✗ output-mismatch', 'executed dataset (40 ms)', 'dataset: 1 examples', ...formatSummary(summary)].join('\n') + '\n',
    );
  });

  it('the summary of a no-op run says nothing to do', () => {
    expect(formatSummary({ ...summary, executed: 0, cached: 0, upToDate: 3, rejected: {}, wallMs: 80 })).toEqual(['nothing to do: all 3 nodes up to date (80 ms)']);
  });
});
