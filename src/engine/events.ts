/**
 * The engine's typed event stream. The terminal display, `--json` (NDJSON) and watch mode
 * only consume these; the engine never prints.
 */

/** How a node's result was obtained. */
export type Outcome =
  | 'executed' // the task ran
  | 'cached' // restored from the action cache
  | 'up-to-date' // outputs already in place, nothing to do
  | 'propagated' // an input was rejected, so this item is rejected without running
  | 'failed' // infrastructure failure
  | 'would-run' // --dry-run: the task would run
  | 'would-restore'; // --dry-run: the result is in the cache and would be restored

export interface NodeRef {
  /** `target` or `target/item`. */
  id: string;
  target: string;
  item?: string;
}

export type EngineEvent =
  | { type: 'build-start'; targets: string[]; jobs: number; dryRun: boolean; time: number }
  | { type: 'lock-wait'; holder: string }
  /** What a source target's scan reads (`ScanResult.watch`, `watchIgnore`): watch mode watches it. */
  | { type: 'source-scanned'; target: string; watch: string[]; watchIgnore?: string[] }
  | {
      type: 'target-items';
      target: string;
      items: number;
      /** Found up to date as a whole from its saved digest, without keying each node. */
      upToDateAsWhole?: true;
    }
  | ({ type: 'node-start' } & NodeRef)
  | ({
      type: 'node-done';
      outcome: Outcome;
      status: 'ok' | 'rejected' | 'failed';
      reason?: string;
      message?: string;
      durationMs: number;
      /** For --explain / --dry-run: why the node is stale. */
      why?: string[];
      /** Small facts for displays: token counts, verdicts. */
      meta?: Record<string, unknown>;
    } & NodeRef)
  | { type: 'removed'; target: string; paths: string[] }
  | { type: 'warning'; message: string }
  | { type: 'progress'; id: string; line: string }
  | {
      type: 'report';
      target: string;
      lines: string[];
      /** A dry run: the report of a result that would be restored (not the outputs in place). */
      would?: true;
    }
  | { type: 'build-done'; summary: BuildSummary };

export interface BuildSummary {
  ok: boolean;
  /** A dry run: `cached` counts what would be restored, `wouldRun` what would run. */
  dryRun?: boolean;
  interrupted: boolean;
  total: number;
  executed: number;
  cached: number;
  upToDate: number;
  wouldRun: number;
  rejected: Record<string, number>;
  propagated: number;
  failed: { id: string; message: string }[];
  skipped: number;
  /** Source files read and hashed (the rest were answered by the stat fast path). */
  hashedFiles: number;
  wallMs: number;
}

export type Listener = (e: EngineEvent) => void;
