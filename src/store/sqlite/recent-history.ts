import type { HistoryEntry, HistoryJsonPage } from '../history.repository';

/** Entries kept per stream: a reader catching up further back reads the file. */
const PER_STREAM = 1_000;
/** Payload characters kept across all streams: the stream written longest ago is dropped first. */
const TOTAL_CHARS = 16 * 1024 * 1024;

interface Recent {
  /** Consecutive Seqs, ascending, up to the stream's head. */
  entries: HistoryEntry[];
  chars: number;
}

/**
 * The newest committed entries of the streams written lately, in memory: a reader of recent history
 * (the common case: a client catching up after a short disconnect) needs no SQLite read. Exact, because
 * this process is the file's only writer and an entry is added only once its commit is done; a page is
 * served from here only when this holds every Seq from the page's start to the head.
 */
export class RecentHistory {
  /** By stream, the one written longest ago first. */
  private readonly streams = new Map<string, Recent>();
  private chars = 0;

  constructor(
    private readonly perStream = PER_STREAM,
    private readonly totalChars = TOTAL_CHARS,
  ) {}

  /** `entries` (consecutive, ascending) were committed: the stream's head is now the last of them. */
  committed(stream: string, entries: readonly HistoryEntry[]): void {
    if (entries.length === 0) {
      return;
    }
    if (entries.some((entry, i) => i > 0 && entry.seq !== entries[i - 1].seq + 1)) {
      // Not one run of Seqs: keep nothing of this stream rather than a page with a hole.
      this.forget(stream);
      return;
    }
    let recent = this.streams.get(stream);
    if (recent !== undefined) {
      this.streams.delete(stream);
      if (recent.entries[recent.entries.length - 1].seq + 1 !== entries[0].seq) {
        this.chars -= recent.chars;
        recent = undefined;
      }
    }
    recent ??= { entries: [], chars: 0 };
    this.streams.set(stream, recent);
    for (const entry of entries) {
      recent.entries.push(entry);
      recent.chars += entry.payload.length;
      this.chars += entry.payload.length;
    }
    const excess = recent.entries.length - this.perStream;
    if (excess > 0) {
      for (const dropped of recent.entries.splice(0, excess)) {
        recent.chars -= dropped.payload.length;
        this.chars -= dropped.payload.length;
      }
    }
    for (const [oldest, kept] of this.streams) {
      if (this.chars <= this.totalChars || kept === recent) {
        break;
      }
      this.streams.delete(oldest);
      this.chars -= kept.chars;
    }
  }

  private forget(stream: string): void {
    const recent = this.streams.get(stream);
    if (recent !== undefined) {
      this.streams.delete(stream);
      this.chars -= recent.chars;
    }
  }

  /**
   * The entries with `from < seq <= latestSeq` and `at >= notBefore`, at most `limit`, as SQLite would
   * answer them; undefined when this does not hold all of that range (the caller reads the file).
   */
  page(stream: string, from: number, latestSeq: number, notBefore: number, limit: number): Omit<HistoryJsonPage, 'latestSeq'> | undefined {
    const entries = this.streams.get(stream)?.entries;
    if (entries === undefined || entries.length === 0 || entries[entries.length - 1].seq !== latestSeq || entries[0].seq > from + 1) {
      return undefined;
    }
    const payloads: string[] = [];
    let firstSeq: number | undefined;
    for (let i = Math.max(0, from + 1 - entries[0].seq); i < entries.length && payloads.length < limit; i++) {
      if (entries[i].at >= notBefore) {
        firstSeq ??= entries[i].seq;
        payloads.push(entries[i].payload);
      }
    }
    return { firstSeq, count: payloads.length, joined: payloads.join(',') };
  }
}
