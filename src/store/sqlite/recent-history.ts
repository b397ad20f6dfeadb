import type { HistoryEntry, HistoryJsonPage } from '../history.repository';

/** Entries kept per stream: a reader catching up further back reads the file. */
const PER_STREAM = 1_000;
/** Payload bytes kept across all streams: the stream written longest ago is dropped first. */
const TOTAL_BYTES = 16 * 1024 * 1024;
const COMMA = Buffer.from(',');

/** An entry as a page serves it: the payload already UTF-8 (a page is bytes on the wire, see HistoryJsonPage). */
interface Kept {
  seq: number;
  at: number;
  bytes: Buffer;
}

interface Recent {
  /** Consecutive Seqs, ascending, up to the stream's head. */
  entries: Kept[];
  bytes: number;
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
  private bytes = 0;

  constructor(
    private readonly perStream = PER_STREAM,
    private readonly totalBytes = TOTAL_BYTES,
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
        this.bytes -= recent.bytes;
        recent = undefined;
      }
    }
    recent ??= { entries: [], bytes: 0 };
    this.streams.set(stream, recent);
    for (const { seq, at, payload } of entries) {
      const bytes = Buffer.from(payload, 'utf8');
      recent.entries.push({ seq, at, bytes });
      recent.bytes += bytes.length;
      this.bytes += bytes.length;
    }
    const excess = recent.entries.length - this.perStream;
    if (excess > 0) {
      for (const dropped of recent.entries.splice(0, excess)) {
        recent.bytes -= dropped.bytes.length;
        this.bytes -= dropped.bytes.length;
      }
    }
    for (const [oldest, kept] of this.streams) {
      if (this.bytes <= this.totalBytes || kept === recent) {
        break;
      }
      this.streams.delete(oldest);
      this.bytes -= kept.bytes;
    }
  }

  private forget(stream: string): void {
    const recent = this.streams.get(stream);
    if (recent !== undefined) {
      this.streams.delete(stream);
      this.bytes -= recent.bytes;
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
    const parts: Buffer[] = [];
    let firstSeq: number | undefined;
    let count = 0;
    for (let i = Math.max(0, from + 1 - entries[0].seq); i < entries.length && count < limit; i++) {
      const { seq, at, bytes } = entries[i];
      if (at >= notBefore) {
        firstSeq ??= seq;
        if (count > 0) {
          parts.push(COMMA);
        }
        parts.push(bytes);
        count += 1;
      }
    }
    return { firstSeq, count, joined: Buffer.concat(parts) };
  }
}
