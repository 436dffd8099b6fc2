/**
 * The daily loop at random: a seeded sequence of dry runs, `status`, builds and edits (new text,
 * reverts to an earlier version, new and deleted files, touches, old and fresh timestamps, a
 * rejected text). No step may print a corruption warning (nothing in cache/ is damaged here),
 * and every build's outputs are exactly what the current sources make.
 * ASMGRAPH_STEPS (default 300); ASMGRAPH_SEED replays.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, readTree, runCli } from '../support/cli.js';
import { rng, SEED } from '../support/random.js';

const STEPS = Number(process.env.ASMGRAPH_STEPS ?? 300);

const PIPELINE = `version: 1
default: [joined]
targets:
  texts: { kind: files, params: { glob: "src/*.txt" } }
  checked:
    kind: command
    from: texts
    params:
      run: if grep -q bad "$IN"; then echo "found bad word" >&2; exit 3; fi; cp "$IN" "$OUT"
      outputs: { out: .txt }
      onError: reject
  upper: { kind: command, from: checked, params: { run: 'tr a-z A-Z < "$IN" > "$OUT"', outputs: { out: .txt } } }
  # nullglob: when every text is rejected the collection is empty, and all.txt is empty too.
  joined: { kind: command, from: upper, params: { per: all, run: 'shopt -s nullglob; cat /dev/null "$IN_DIR"/*/out > "$OUT"', outputs: { all: all.txt } } }
`;

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

/** What a clean build of `src` produces under build/. */
function expectedTree(src: Map<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const names = [...src.keys()].sort();
  let all = '';
  for (const n of names) {
    const stem = n.replace(/\.txt$/, '');
    const text = src.get(n)!;
    if (text.includes('bad')) {
      out[`checked/${stem}.rejected.txt`] = '';
      continue;
    }
    out[`checked/${stem}.txt`] = text;
    out[`upper/${stem}.txt`] = text.toUpperCase();
    all += text.toUpperCase();
  }
  out['all.txt'] = all;
  return out;
}

describe('daily loop (stress)', () => {
  it(`${STEPS} random dry-run/status/build/edit steps (seed ${SEED}): never a corruption warning`, async () => {
    console.log(`daily-loop seed: ${SEED} (replay with ASMGRAPH_SEED=${SEED})`);
    const random = rng(SEED);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
    const src = new Map<string, string>();
    for (let i = 0; i < 4; i++) src.set(`f${i}.txt`, `text number ${i}\n`);
    const files: Record<string, string> = { 'pipeline.yaml': PIPELINE };
    for (const [n, t] of src) files[`src/${n}`] = t;
    const dir = await makeProject(files);
    dirs.push(dir);
    const history = new Map<string, string[]>();
    for (const [n, t] of src) history.set(n, [t]);
    const log: string[] = [];
    let builds = 0;

    const write = async (name: string, text: string) => {
      const f = path.join(dir, 'src', name);
      await fsp.writeFile(f, text);
      // Half the time the file looks old, so the stat fast path trusts the next hash of it.
      if (random() < 0.5) {
        const past = new Date(Date.now() - 10_000 - Math.floor(random() * 100_000));
        await fsp.utimes(f, past, past);
      }
      src.set(name, text);
      const h = history.get(name) ?? [];
      if (!h.includes(text)) h.push(text);
      history.set(name, h);
    };

    for (let step = 0; step < STEPS; step++) {
      const r = random();
      let args: string[] | undefined;
      if (r < 0.4) {
        // An edit.
        const e = random();
        const names = [...src.keys()];
        if (e < 0.35 || !names.length) {
          const name = names.length ? pick(names) : 'f0.txt';
          const text = `${random() < 0.1 ? 'bad ' : ''}text ${Math.floor(random() * 1000)}\n`;
          await write(name, text);
          log.push(`edit ${name}`);
        } else if (e < 0.6) {
          const name = pick(names);
          await write(name, pick(history.get(name)!));
          log.push(`revert ${name}`);
        } else if (e < 0.75) {
          const name = `f${Math.floor(random() * 8)}.txt`;
          await write(name, pick(history.get(name) ?? [`new text ${step}\n`]));
          log.push(`add ${name}`);
        } else if (e < 0.85 && names.length > 1) {
          const name = pick(names);
          await fsp.rm(path.join(dir, 'src', name));
          src.delete(name);
          log.push(`delete ${name}`);
        } else {
          const name = pick(names);
          const now = new Date();
          await fsp.utimes(path.join(dir, 'src', name), now, now);
          log.push(`touch ${name}`);
        }
        continue;
      }
      if (r < 0.6) args = ['-n', '--json'];
      else if (r < 0.65) args = ['-n', '--explain', '--json'];
      else if (r < 0.75) args = ['status', '--json'];
      else args = ['--json'];
      log.push(args.join(' '));
      const res = await runCli(dir, args);
      const where = `step ${step} (seed ${SEED}): ${log.slice(-12).join(' | ')}`;
      const done = res.events.find((e) => e.type === 'build-done');
      expect(res.code, `${where}\n${res.stderr}${JSON.stringify(done?.summary?.failed ?? [])}`).toBe(0);
      expect((res.stderr + res.stdout).split("\n").filter((l) => /corrupt/.test(l)), where).toEqual([]);
      if (args[0] === '--json') {
        builds++;
        const tree = await readTree(path.join(dir, 'build'));
        for (const k of Object.keys(tree)) if (k.endsWith('.rejected.txt')) tree[k] = '';
        expect(tree, where).toEqual(expectedTree(src));
      }
    }
    if (process.env.ASMGRAPH_KEEP) console.log(`kept ${dirs.pop()}`);
    const v = await runCli(dir, ['cache', 'verify', '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(builds).toBeGreaterThan(0);
  });
});
