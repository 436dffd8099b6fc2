/** The validated pipeline, as the engine sees it. */
import type { JsonObject, TaskKind } from '../task-api.js';

export interface Location {
  line: number;
  col: number;
}

export interface TargetDef {
  name: string;
  kindName: string;
  kind: TaskKind;
  /** Resolved mode: per item (`map`), whole collections (`reduce`) or `source`. */
  mode: 'map' | 'reduce' | 'source';
  from: string[];
  with: Record<string, string>;
  params: JsonObject;
  matrix?: Record<string, string[]>;
  /** Project-relative folder where outputs are materialized. */
  outDir: string;
  description?: string;
  loc: Location;
}

export interface Settings {
  jobs: number;
  llmConcurrency: number;
  buildDir: string;
  /** Remote cache URL (Bazel's HTTP protocol), overridden by --remote-cache. */
  remoteCache?: string;
}

export interface Pipeline {
  /** Absolute path of pipeline.yaml. */
  file: string;
  /** Project root (the folder holding pipeline.yaml). */
  root: string;
  defaultTargets: string[];
  settings: Settings;
  targets: Map<string, TargetDef>;
  warnings: string[];
}

/** All targets a target depends on directly. */
export function directDeps(t: TargetDef): string[] {
  return [...t.from, ...Object.values(t.with)];
}
