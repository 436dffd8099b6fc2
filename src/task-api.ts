/**
 * The contract between the engine and a task kind (one module per kind in `tasks/`).
 *
 * A task kind never touches the store, the work tree or the scheduler: it gets its inputs as
 * values (blob references it can read), returns its outputs as values, and the engine hashes,
 * stores, caches and materializes them. Expected failures (a program that does not compile) are
 * returned as `rejected` results; anything thrown is an infrastructure failure that fails the build.
 */

import type { Sandbox } from './sandbox/sandbox.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** A blob in the content-addressed store. */
export interface FileRef {
  /** sha256 of the bytes, lowercase hex. */
  hash: string;
  size: number;
}

/** One item of a collection, as a downstream task sees it. */
export interface ItemView {
  /** Unique key inside the collection, e.g. `bubble_sort` or `bubble_sort[opt=O2,toolchain=aarch64]`. */
  key: string;
  /** The key without variant dimensions (`bubble_sort`); items of different targets join on it. */
  base: string;
  /** Variant dimensions added by matrix targets, e.g. `{toolchain: "x86_64", opt: "O0"}`. */
  vars: Record<string, string>;
  status: 'ok' | 'rejected';
  /** For rejected items: the reason (a verdict such as `compile-error`). */
  reason?: string;
  message?: string;
  /** Named output files of the item. */
  files: Record<string, FileRef>;
  /** Small JSON facts about the item (verdicts, token counts, ...). */
  meta: JsonObject;
  /**
   * A source item's files as project paths (`{src: "sources/fizzbuzz.cpp"}`), for reports that
   * name the user's files. Part of the key of an aggregate that takes the source collection.
   */
  paths?: Record<string, string>;
}

/** A file a task writes; `text` or `bytes`. */
export type OutputData = string | Uint8Array;

export interface OkResult {
  status: 'ok';
  files: Record<string, OutputData>;
  meta?: JsonObject;
  /** Only for kinds with `producesItems`: the collection this node generated. */
  items?: GeneratedItem[];
}

export interface RejectedResult {
  status: 'rejected';
  /** Short machine-readable reason, counted in the summary (e.g. `compile-error`). */
  reason: string;
  /** Human-readable message: the tool's error text. */
  message: string;
  files?: Record<string, OutputData>;
  meta?: JsonObject;
}

export type TaskResult = OkResult | RejectedResult;

/** An item generated at run time (e.g. a program written by a model). */
export interface GeneratedItem {
  base: string;
  files: Record<string, OutputData>;
  meta?: JsonObject;
}

export interface RunContext {
  projectRoot: string;
  target: string;
  /** Item key for map tasks. */
  item?: string;
  params: JsonObject;
  /** What `prepare` returned for this target (toolchain identity, ...). */
  identity: JsonObject;
  /** Reads a blob from the store. */
  read(ref: FileRef): Promise<Buffer>;
  /** Slow facts remembered across builds (as `PrepareContext.facts`): never part of a key. */
  facts?: Facts;
  /**
   * A local file holding the blob, made on demand by whatever store holds it (the local store's
   * own file, a file written from memory or a remote cache). Read-only: never write to it.
   */
  localPath(ref: FileRef): Promise<string>;
  /** A fresh empty directory, removed by the engine when the task finishes. */
  tmpdir(): Promise<string>;
  /** Appends a line to the node's captured log (kept in the action cache). */
  log(line: string): void;
  /** Aborted when the build is interrupted: stop child processes promptly. */
  signal: AbortSignal;
  /**
   * Where programs run: every program run, reference or model-written, goes through it, in a
   * folder it hands out (`sandbox.box(() => ctx.tmpdir())`). The engine's (`BuildOptions.sandbox`),
   * which keeps its own helper binary and folders: a kind never places them.
   */
  sandbox: Sandbox;
  /**
   * A folder in cache/ that survives crashes and runs, private to this target (and item): for
   * resumable work such as the journal of a pending OpenAI batch or fine-tuning job.
   */
  persistentDir(): Promise<string>;
  /** Options from the command line that tasks may need. */
  flags: RunFlags;
  /** Pool sizes: how many LLM requests may be in flight at once, CPU jobs. */
  concurrency: { cpu: number; llm: number };
  /** Progress lines for the display (batch status, training loss, ...). */
  progress(line: string): void;
  /**
   * A cached helper artifact shared between nodes (a precompiled header, a reference run):
   * `build` runs at most once per distinct `keyRecord` across the store's lifetime, its files are
   * stored and cached like any node's; the returned paths are read-only blob paths. A node that
   * asks for an artifact another node is still building gives its CPU slot back while it waits.
   */
  artifact(
    name: string,
    keyRecord: JsonObject,
    build: (dir: string) => Promise<ArtifactResult>,
  ): Promise<ArtifactOutput>;
  /**
   * Joins the nodes of this target that call `gather` with the same `group` in this build, so that
   * one `flush` serves them all (one Batch API batch for every item of a target). Resolves with
   * this node's element of what `flush` returns for the values of the round, in the same order.
   *
   * A round is flushed when every node of the target that has not finished yet is waiting in
   * `gather` (nodes that finish without calling it, are up to date, cached or skipped do not hold it
   * up), or when nothing else in the build can run any more. Both are decided by the scheduler's
   * state, never by a timer. While it waits a node gives its pool slots back, so a target with more
   * nodes than `llmConcurrency` gathers all of them; afterwards it takes them again. Every node of a
   * group must pass an equivalent `flush` (the first one's is used): put what it depends on into
   * `group`. An interrupted build rejects the nodes of rounds not yet flushed (nothing is sent).
   */
  gather<T, R>(group: string, value: T, flush: (values: T[], ctx: GatherContext) => Promise<R[]>): Promise<R>;
}

/** What a `gather` flush gets: the target's, not a node's, context. */
export interface GatherContext {
  target: string;
  /** A folder in cache/ that survives crashes and runs, for the whole target (not one item). */
  persistentDir(): Promise<string>;
  /** Progress lines for the display, under the target's name. */
  progress(line: string): void;
  /** Aborted when the build is interrupted. */
  signal: AbortSignal;
  flags: RunFlags;
}

export interface RunFlags {
  /** `--yes`: spending money is allowed without asking. */
  yes: boolean;
  /** `--max-cost USD`: refuse anything estimated to cost more. */
  maxCost?: number;
}

export interface ArtifactResult {
  /** Files (relative names inside `dir`) to keep. */
  files: string[];
  meta?: JsonObject;
}

export interface ArtifactOutput {
  /** Absolute read-only paths by the relative names given. */
  paths: Record<string, string>;
  /** A read-only folder holding every file under its relative name (links into the store). */
  dir: string;
  meta: JsonObject;
}

export interface MapInput {
  item: { key: string; base: string; vars: Record<string, string> };
  /** `from` is the primary input; other names come from the target's `with:` map. */
  inputs: Record<string, ItemView>;
}

export interface ReduceInput {
  /** Every item of each input collection, ordered by key. */
  inputs: Record<string, ItemView[]>;
}

export type PlanContext = Pick<RunContext, 'projectRoot' | 'target' | 'params' | 'identity' | 'read' | 'flags' | 'concurrency'>;

export interface PrepareContext {
  projectRoot: string;
  target: string;
  params: JsonObject;
  /** The variant dimensions this target expands to, when it declares a matrix. */
  vars?: Record<string, string>;
  /** Slow facts remembered across builds under a stamp of the files they depend on. */
  facts?: Facts;
  /** The build's sandbox (its identity enters the keys of kinds that run programs). */
  sandbox?: Sandbox;
}

/**
 * Facts about the machine that are slow to learn (a compiler's `--version`), kept across builds.
 * `stamp` says what the fact depends on (`fileStamp` of the compiler, in src/store/facts.ts): a
 * fact is returned only under the stamp it was stored with.
 */
export interface Facts {
  get(key: string, stamp: string): Json | undefined;
  set(key: string, stamp: string, value: Json): void;
}

export interface OutputSpec {
  /** Output name used in `files`. */
  name: string;
  /** Extension when materialized per item (`.s`), or a file name for reduce tasks. */
  ext?: string;
  file?: string;
}

interface TaskKindBase {
  name: string;
  /** Bumped whenever the implementation can produce different outputs for the same key record. */
  version: string;
  description: string;
  /** Which resource pool runs it. */
  pool: 'cpu' | 'llm' | 'none';
  /**
   * Which files of each input the task reads (by input name: `from` or a `with:` name), or '*'.
   * Only these enter the key and are handed to the task: editing a prompt sidecar does not recompile.
   */
  reads?: Record<string, string[] | '*'>;
  /**
   * Neutral file names the task's messages use, by the source file they stand for: compile says
   * `prog.cpp:8:32: error: …` for the item's `src`. The engine shows such messages (events,
   * `*.rejected.txt`) with the user's path (`sources/fizzbuzz.cpp:8:32`); the cached record and
   * the outputs keep the neutral name, so identical programs still share one entry.
   */
  messagePaths?: Record<string, string>;
  /** JSON Schema (draft-07) of the target's kind-specific parameters (the `params:` map). */
  paramsSchema: JsonObject;
  /** Named environment variables that enter the key (never their values in logs). */
  env?: (params: JsonObject) => string[];
  /**
   * Identity computed once per build and target (or per matrix variant): the toolchain's
   * `--version`, target triple, ... It enters every key of the target.
   */
  prepare?(ctx: PrepareContext): Promise<JsonObject>;
  /**
   * Loads what the first run would load (tables, libraries). Watch mode calls it while idle, so
   * the first edit after start-up does not pay for it.
   */
  warm?(): Promise<void>;
  /** The files a node of this kind writes, for materialization and the collision check. */
  outputs(params: JsonObject): OutputSpec[];
}

export interface MapKind extends TaskKindBase {
  mode: 'map';
  /** --dry-run: what running would do (requests, estimated tokens and cost); must send nothing. */
  plan?(input: MapInput, ctx: PlanContext): Promise<string[]>;
  /** The same kind run once over whole collections, for targets with `params.per: all` or no `from`. */
  perAll?: ReduceKind;
  run(input: MapInput, ctx: RunContext): Promise<TaskResult>;
}

export interface ReduceKind extends TaskKindBase {
  mode: 'reduce';
  /** True when `run` returns `items`, which then form a collection other targets can fan out over. */
  producesItems?: boolean;
  run(input: ReduceInput, ctx: RunContext): Promise<TaskResult>;
  /** --dry-run: what running would do (requests, estimated tokens and cost); must send nothing. */
  plan?(input: ReduceInput, ctx: PlanContext): Promise<string[]>;
}

/** A kind whose items come from outside the graph (files on disk). The engine scans it every build. */
export interface SourceKind extends TaskKindBase {
  mode: 'source';
  scan(ctx: ScanContext): Promise<ScanResult>;
}

export interface ScanContext {
  projectRoot: string;
  target: string;
  params: JsonObject;
  /**
   * lstat of a project file, or undefined if it does not exist. Synchronous and remembered for
   * the build, so the engine does not stat the file again when it hashes it.
   */
  lstat(rel: string): import('node:fs').Stats | undefined;
}

export interface ScannedItem {
  base: string;
  status: 'ok' | 'rejected';
  reason?: string;
  message?: string;
  /** Output name → project-relative path of the file. */
  paths: Record<string, string>;
  /** Output name → text the scan made (e.g. a program with its local headers inlined). */
  contents?: Record<string, string>;
}

export interface ScanResult {
  items: ScannedItem[];
  /**
   * Project-relative paths and globs (picomatch) of the files the scan reads, or would read were
   * they there; a folder stands for everything in it. Watch mode watches exactly these.
   */
  watch: string[];
  /** Paths and globs left out of `watch` (and everything in a folder they match). */
  watchIgnore?: string[];
  warnings: string[];
}

export type TaskKind = MapKind | ReduceKind | SourceKind;

/** Thrown for infrastructure failures that a user must fix (missing compiler, ...): exit 1 with this message. */
export class InfraError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'InfraError';
  }
}
