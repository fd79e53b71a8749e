// A per-test log that keeps its first and last lines and counts what it dropped in between.

/** Keeps `head` first lines and `tail` last lines; memory stays bounded however long the test talks. */
export class BoundedLog {
  private readonly headMax: number;
  private readonly tailMax: number;
  private readonly head: string[] = [];
  // Allocated only when a test logs more than the head holds, which few do.
  private tail: string[] | undefined;
  private dropped = 0;

  constructor(max: number) {
    this.headMax = Math.max(1, Math.ceil(max / 2));
    this.tailMax = Math.max(1, max - this.headMax);
  }

  /** Number of lines seen so far. */
  get size(): number {
    return this.head.length + (this.tail?.length ?? 0) + this.dropped;
  }

  push(line: string): void {
    if (this.head.length < this.headMax) {
      this.head.push(line);
      return;
    }
    (this.tail ??= []).push(line);
    // Trim in batches so pushing stays O(1) amortised.
    if (this.tail.length >= this.tailMax * 2) {
      this.dropped += this.tail.length - this.tailMax;
      this.tail = this.tail.slice(this.tail.length - this.tailMax);
    }
  }

  /** The kept lines, with one marker line where lines were dropped. The log must not be pushed to afterwards. */
  toArray(): string[] {
    if (this.tail === undefined) return this.head;
    let tail = this.tail;
    let dropped = this.dropped;
    if (tail.length > this.tailMax) {
      dropped += tail.length - this.tailMax;
      tail = tail.slice(tail.length - this.tailMax);
    }
    if (dropped === 0) return [...this.head, ...tail];
    return [...this.head, `[kharness: ${dropped} log lines omitted]`, ...tail];
  }
}
