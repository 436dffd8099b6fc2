/** Located errors and warnings about a pipeline file: `file:line:col: key.path: message`. */

export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  /** Dotted key path, e.g. `targets.asm.from`. */
  path: string;
  message: string;
  severity: 'error' | 'warning';
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.col}`;
  const tag = d.severity === 'warning' ? 'warning: ' : '';
  return d.path ? `${where}: ${tag}${d.path}: ${d.message}` : `${where}: ${tag}${d.message}`;
}

/** A pipeline that cannot be built: exit code 2. */
export class PipelineError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
    this.name = 'PipelineError';
  }
}

/** Bad command-line usage: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
