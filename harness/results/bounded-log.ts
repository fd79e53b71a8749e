// A per-test log that keeps its first and last lines and counts what it dropped in between.

import { ownCopy } from "./lines.js";

/** Keeps `head` first lines and `tail` last lines; memory stays bounded however long the test talks. */
export class BoundedLog {
  private readonly headMax: number;
  private readonly tailMax: number;
  // Starts as a one-line array: most logs hold a line or two, and an empty array's first push reserves 17 slots.
  private head: string[] | undefined;
  // Allocated only when a test logs more than the head holds, which few do.
  private tail: string[] | undefined;
  private dropped = 0;

  constructor(max: number) {
    this.headMax = Math.max(1, Math.ceil(max / 2));
    this.tailMax = Math.max(1, max - this.headMax);
  }

  /** Number of lines seen so far. */
  get size(): number {
    return (this.head?.length ?? 0) + (this.tail?.length ?? 0) + this.dropped;
  }

  push(line: string): void {
    const kept = ownCopy(line);
    if (this.head === undefined) {
      this.head = [kept];
      return;
    }
    if (this.head.length < this.headMax) {
      this.head.push(kept);
      return;
    }
    (this.tail ??= []).push(kept);
    // Trim in batches so pushing stays O(1) amortised.
    if (this.tail.length >= this.tailMax * 2) {
      this.dropped += this.tail.length - this.tailMax;
      this.tail = this.tail.slice(this.tail.length - this.tailMax);
    }
  }

  /** The kept lines, with one marker line where lines were dropped. The log must not be pushed to afterwards. */
  toArray(): string[] {
    const head = this.head ?? [];
    if (this.tail === undefined) return head;
    let tail = this.tail;
    let dropped = this.dropped;
    if (tail.length > this.tailMax) {
      dropped += tail.length - this.tailMax;
      tail = tail.slice(tail.length - this.tailMax);
    }
    if (dropped === 0) return [...head, ...tail];
    return [...head, `[kharness: ${dropped} log lines omitted]`, ...tail];
  }
}
