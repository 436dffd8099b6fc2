/**
 * Coalesces file-change notifications into cycles: a cycle is due once no change has arrived
 * for `quietMs` (a burst such as `git checkout` becomes one cycle), or `maxWaitMs` after the
 * first pending change so that a file that never stops changing cannot starve the build.
 * Changes arriving while a cycle runs stay pending and make the next cycle.
 */
export class ChangeQueue {
  private readonly pending = new Set<string>();
  private first = 0;
  private last = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly onDue: () => void,
    private readonly quietMs = 30,
    private readonly maxWaitMs = 400,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  add(rel: string): void {
    const now = Date.now();
    if (this.pending.size === 0) this.first = now;
    this.last = now;
    this.pending.add(rel);
    this.arm();
  }

  /** Drops a pending change that turned out to be already built. */
  forget(rel: string): void {
    if (this.pending.delete(rel) && this.pending.size === 0) this.take();
  }

  /** Keeps only the pending changes `keep` accepts. */
  retain(keep: (rel: string) => boolean): void {
    for (const rel of [...this.pending]) if (!keep(rel)) this.forget(rel);
  }

  /** (Re)starts the timer for the pending changes, if any. */
  arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const now = Date.now();
    const delay = Math.max(0, Math.min(this.last + this.quietMs, this.first + this.maxWaitMs) - now);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onDue();
    }, delay);
  }

  /** The pending changes, sorted; the queue is empty afterwards. */
  take(): string[] {
    const out = [...this.pending].sort();
    this.pending.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return out;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }
}
