/**
 * `asmgraph show NODE` (like `ninja -t commands` / `bazel aquery`): what one node is, what its
 * key is made of in readable words, the commands it ran, its captured log, its outputs and
 * whether it is fresh. `asmgraph why NODE`: what would make it run (or what it waits for).
 * Both build nothing: freshness comes from a dry run of the node's target.
 */
import { Build } from '../engine/build.js';
import type { EngineEvent } from '../engine/events.js';
import { UsageError } from '../pipeline/diagnostics.js';
import type { Pipeline, TargetDef } from '../pipeline/model.js';
import { didYouMean } from '../pipeline/suggest.js';
import { checkTargets, storeOf } from '../project.js';
import type { ActionRecord, NodeState } from '../store/index.js';
import type { Json, JsonObject } from '../task-api.js';

export interface NodeReport {
  id: string;
  target: string;
  kind: string;
  item?: string;
  /** fresh: outputs in place for the current inputs; stale: it would run or be restored; unknown: its inputs would be rebuilt first. */
  state: 'fresh' | 'stale' | 'never built';
  why: string[];
  status?: 'ok' | 'rejected';
  reason?: string;
  message?: string;
  key?: string;
  /** The key record as `name: value` lines. */
  keyRecord: string[];
  commands: string[];
  log: string[];
  outputs: string[];
  builtAt?: string;
  durationMs?: number;
  /** What its key is made of: a change to any of these makes it run. */
  dependsOn: string[];
}

export async function inspectNode(p: Pipeline, id: string): Promise<NodeReport> {
  const slash = id.indexOf('/');
  const target = slash < 0 ? id : id.slice(0, slash);
  const item = slash < 0 ? undefined : id.slice(slash + 1);
  checkTargets(p, [target]);
  const def = p.targets.get(target)!;
  if (def.mode === 'source') throw new UsageError(`${target} is a list of files (kind files): it has no nodes to show; try one of its consumers`);
  if (def.mode === 'map' && item === undefined) throw new UsageError(`${target} runs once per item: name one, e.g. ${target}/<item> (see asmgraph status -v ${target})`);
  if (def.mode !== 'map' && item !== undefined) throw new UsageError(`${target} is one node: write ${target}, not ${id}`);

  const store = storeOf(p);
  await store.open({ clearTemp: false });
  let done: Extract<EngineEvent, { type: 'node-done' }> | undefined;
  const ids: string[] = [];
  const build = new Build(p, store, {
    targets: [target], dryRun: true,
    onEvent: (e) => {
      if (e.type !== 'node-done' || e.target !== target) return;
      ids.push(e.id);
      if (e.id === id) done = e;
    },
  });
  await build.run();
  if (!done) {
    throw new UsageError(`no node ${id}${didYouMean(id, ids)}${ids.length ? `; ${target} has ${ids.length} nodes, e.g. ${ids.slice(0, 3).join(', ')}` : ''}`);
  }
  const st: NodeState | undefined = store.states.get(target)?.nodes[item ?? target];
  const rec: ActionRecord | undefined = st ? await store.actions.get(st.key).catch(() => undefined) : undefined;
  let logText = '';
  if (rec?.log) logText = (await store.blobs.read(rec.log).catch(() => Buffer.from(''))).toString('utf8');
  const logLines = logText ? logText.split('\n') : [];
  const commands = logLines.filter((l) => l.startsWith('$ ')).map((l) => l.slice(2));
  if (def.kindName === 'command' && typeof def.params.run === 'string') commands.push(...def.params.run.trim().split('\n'));
  const fresh = done.outcome === 'up-to-date' || (done.outcome === 'propagated' && !!st);
  const report: NodeReport = {
    id, target, kind: def.kindName, item,
    state: fresh ? 'fresh' : st ? 'stale' : 'never built',
    why: fresh ? [] : done.why?.length ? done.why : done.outcome === 'would-restore' ? ['its result is in the cache: a build restores it without running'] : [],
    status: st?.status ?? (done.status === 'failed' ? undefined : done.status),
    reason: st?.reason ?? done.reason,
    message: done.message ?? st?.message,
    key: st?.key,
    keyRecord: rec ? readableRecord(rec.keyRecord, def, item, build) : [],
    commands,
    log: logLines.filter((l) => !l.startsWith('$ ')),
    outputs: st ? Object.entries(st.out).map(([rel, s]) => `${rel} (${s[0]} bytes)`) : [],
    builtAt: rec?.createdAt,
    durationMs: rec?.durationMs,
    dependsOn: rec ? dependencies(rec.keyRecord, def, item, build) : [],
  };
  if (done.outcome === 'propagated') report.why = [done.message ?? `an input was rejected: ${done.reason}`];
  return report;
}

/** The input a key record's `inputs.<name>` comes from. */
function inputTarget(def: TargetDef, name: string): string | undefined {
  if (name === 'from') return def.from[0];
  const m = /^from(\d+)$/.exec(name);
  if (m) return def.from[Number(m[1])];
  return def.with[name];
}

const isObj = (x: Json | undefined): x is JsonObject => !!x && typeof x === 'object' && !Array.isArray(x);
const shortHash = (v: Json | undefined) => (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? v.slice(0, 8) : JSON.stringify(v));

function describeInput(def: TargetDef, item: string | undefined, name: string, fp: Json, build: Build): string {
  const t = inputTarget(def, name) ?? name;
  if (item !== undefined && isObj(fp)) {
    const base = item.replace(/\[.*$/, '');
    const files = isObj(fp.files) ? fp.files : {};
    const parts = Object.entries(files).map(([f, h]) => `${build.sourcePathOf(t, base, f) ?? `${t}/${item} ${f}`} (${shortHash(h)})`);
    const isSource = parts.some((x) => !x.startsWith(`${t}/`));
    const what = isSource ? parts.join(', ') : `${t}/${base}'s output ${Object.entries(files).map(([f, h]) => `${f} ${shortHash(h)}`).join(', ')}`;
    return `${name}: ${what}${fp.status === 'rejected' ? ` (rejected: ${String(fp.reason)})` : ''}`;
  }
  const n = isObj(fp) ? Object.keys(fp).length : 0;
  return `${name}: ${n} items of ${t}`;
}

function readableRecord(r: JsonObject, def: TargetDef, item: string | undefined, build: Build): string[] {
  const out: string[] = [`task: ${String(r.kind)} (implementation version ${String(r.version)})`];
  const params = isObj(r.params) ? r.params : {};
  out.push(`params: ${Object.keys(params).length ? Object.entries(params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ') : '(none)'}`);
  const identity = isObj(r.identity) ? r.identity : {};
  for (const [k, v] of Object.entries(identity)) {
    if (k === 'toolchain' && isObj(v)) {
      out.push(`toolchain: ${String(v.name)} (toolchain/${String(v.name)}.yaml): ${String(v.cxxVersion)}, ${String(v.dumpmachine)}, flags ${JSON.stringify(v.flags)}${v.runnerVersion ? `, runs under ${String(v.runnerVersion)}` : ''}`);
    } else out.push(`${k}: ${JSON.stringify(v).slice(0, 200)}`);
  }
  const env = isObj(r.env) ? Object.keys(r.env) : [];
  if (env.length) out.push(`environment: ${env.join(', ')} (values hashed, never shown)`);
  const inputs = isObj(r.inputs) ? r.inputs : {};
  for (const [name, fp] of Object.entries(inputs)) out.push(`input ${describeInput(def, item, name, fp, build)}`);
  return out;
}

function dependencies(r: JsonObject, def: TargetDef, item: string | undefined, build: Build): string[] {
  const out: string[] = [];
  const inputs = isObj(r.inputs) ? r.inputs : {};
  for (const [name, fp] of Object.entries(inputs)) {
    const t = inputTarget(def, name) ?? name;
    if (item !== undefined && isObj(fp)) {
      const base = item.replace(/\[.*$/, '');
      const files = isObj(fp.files) ? Object.keys(fp.files) : [];
      const paths = files.map((f) => build.sourcePathOf(t, base, f)).filter((x): x is string => !!x);
      out.push(paths.length ? `the file${paths.length > 1 ? 's' : ''} ${paths.join(', ')}` : `the output of ${t}/${item}`);
    } else out.push(`any item of ${t}`);
  }
  const params = isObj(r.params) ? Object.keys(r.params) : [];
  if (params.length) out.push(`the target's params (${params.join(', ')}) in the pipeline file`);
  else out.push('the target\'s params in the pipeline file');
  const identity = isObj(r.identity) ? r.identity : {};
  if (isObj(identity.toolchain)) out.push(`toolchain/${String(identity.toolchain.name)}.yaml or the installed ${String(identity.toolchain.cxx)} (${String(identity.toolchain.cxxVersion)})`);
  for (const k of Object.keys(identity)) if (k !== 'toolchain') out.push(`the ${k} identity`);
  const env = isObj(r.env) ? Object.keys(r.env) : [];
  if (env.length) out.push(`the environment variables ${env.join(', ')}`);
  out.push(`the ${String(r.kind)} task's implementation (version ${String(r.version)})`);
  return out;
}

export function formatShow(r: NodeReport): string {
  const lines = [`${r.id}  (${r.kind})`];
  const state = r.state === 'fresh' ? 'fresh: its outputs are in place for the current inputs' : r.state === 'stale' ? 'stale' : 'never built';
  lines.push(`  state:    ${state}`);
  for (const w of r.why) lines.push(`            ${w}`);
  if (r.status) lines.push(`  result:   ${r.status === 'ok' ? 'ok' : `rejected: ${r.reason}`}`);
  if (r.message) for (const l of r.message.split('\n')) lines.push(`            ${l}`);
  if (r.key) lines.push(`  key:      ${r.key}`);
  if (r.keyRecord.length) {
    lines.push('  made of:');
    for (const l of r.keyRecord) lines.push(`    ${l}`);
  }
  lines.push(`  commands:${r.commands.length ? '' : ' (none recorded)'}`);
  for (const c of r.commands) lines.push(`    $ ${c}`);
  lines.push(`  log:${r.log.filter((l) => l.trim()).length ? '' : ' (empty)'}`);
  for (const l of r.log) if (l.trim()) lines.push(`    ${l}`);
  lines.push(`  outputs:${r.outputs.length ? '' : ' (none)'}`);
  for (const o of r.outputs) lines.push(`    ${o}`);
  if (r.builtAt) lines.push(`  built:    ${r.builtAt}${r.durationMs !== undefined ? ` in ${r.durationMs} ms` : ''}`);
  return lines.join('\n');
}

export function formatWhy(r: NodeReport): string {
  if (r.state === 'fresh') {
    const lines = [`${r.id} is up to date; it runs again when one of these changes:`];
    for (const d of r.dependsOn) lines.push(`  ${d}`);
    return lines.join('\n');
  }
  const lines = [`${r.id} ${r.state === 'never built' ? 'has never been built' : 'is stale'}; a build would ${r.why.some((w) => w.startsWith('its result is in the cache')) ? 'restore it' : 'run it'}:`];
  for (const w of r.why.length ? r.why : ['no previous build of this node']) lines.push(`  ${w}`);
  return lines.join('\n');
}
