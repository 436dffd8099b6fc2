/** The terminal display consumes engine events: a live line on a TTY, plain lines otherwise. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { colourEnabled, EtaModel, formatSummary, prepareTerminal, terminalDisplay } from '../src/display.js';
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
    const d = terminalDisplay({ verbosity: 'normal', explain: false, tty: true, out: f.stream, colour: false });
    for (const e of events) d.listener(e);
    const out = f.text();
    expect(out).toMatch(/\[0\/3\] asm\/a · running 1 · from cache 0 · rejected 0 · \d+ ms/);
    expect(out).toMatch(/\[3\/3\] · running 0 · from cache 1 · rejected 1/);
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

  it('the ETA comes from measured durations per target, spread over the jobs', () => {
    const m = new EtaModel();
    const done = (target: string, i: number, ms: number, outcome: 'executed' | 'cached' = 'executed'): EngineEvent =>
      ({ type: 'node-done', id: `${target}/${i}`, target, item: String(i), outcome, status: 'ok', durationMs: ms });
    m.onEvent({ type: 'build-start', targets: ['v'], jobs: 2, dryRun: false, time: 0 });
    m.onEvent({ type: 'target-items', target: 'asm', items: 10 });
    m.onEvent({ type: 'target-items', target: 'validated', items: 10 });
    m.onEvent({ type: 'target-items', target: 'dataset', items: 1 });
    expect(m.remainingMs()).toBeUndefined();
    m.onEvent(done('asm', 1, 1000));
    m.onEvent(done('asm', 2, 1000));
    m.onEvent(done('asm', 3, 5, 'cached'));
    m.onEvent(done('validated', 1, 4000));
    // asm: 7 left × 1000 ms; validated: 9 left × 4000 ms; dataset: 1 × the overall mean (2000 ms); over 2 jobs.
    expect(m.remainingMs()).toBe((7 * 1000 + 9 * 4000 + 2000) / 2);
  });

  it('colour: on a terminal, off with NO_COLOR or off a terminal, FORCE_COLOR honoured', () => {
    expect(colourEnabled({ isTTY: true }, {})).toBe(true);
    expect(colourEnabled({ isTTY: false }, {})).toBe(false);
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colourEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colourEnabled({ isTTY: true }, { FORCE_COLOR: '0' })).toBe(false);
    const failed: EngineEvent[] = [
      { type: 'node-done', id: 'asm/b', target: 'asm', item: 'b', outcome: 'executed', status: 'rejected', reason: 'compile-error', message: 'x.cpp:1:1: error: no', durationMs: 3 },
      { type: 'build-done', summary: { ...summary, ok: false, failed: [{ id: 'asm/c', message: 'g++ not found' }] } },
    ];
    const on = fakeStream(false);
    const d = terminalDisplay({ verbosity: 'normal', explain: false, tty: false, out: on.stream, colour: true });
    for (const e of failed) d.listener(e);
    expect(on.text()).toContain('\x1b[33m✗ compile-error: x.cpp:1:1: error: no\x1b[39m');
    expect(on.text()).toContain('\x1b[31m  asm/c: g++ not found\x1b[39m');
    const off = fakeStream(false);
    const d2 = terminalDisplay({ verbosity: 'normal', explain: false, tty: false, out: off.stream, colour: false });
    for (const e of failed) d2.listener(e);
    expect(off.text()).not.toContain('\x1b[');
  });
});
