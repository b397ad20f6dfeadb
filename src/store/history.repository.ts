/** One message kept in a stream's history: the envelope exactly as published (JSON text, `Seq` included). */
export interface HistoryEntry {
  seq: number;
  /** The published payload, UTF-8 JSON text. */
  payload: string;
  /** When it was published (epoch ms): retention by TTL counts from here. */
  at: number;
}

/** A reservation: an entry written under the stream's next `Seq`, invisible to readers until committed. */
export interface HistoryReservation extends HistoryEntry {
  /** When the stored entry stops being needed (epoch seconds): DynamoDB's TTL attribute. */
  expiresAtSeconds: number;
}

export interface HistoryReadQuery {
  /** Entries with `seq > after`. */
  after: number;
  limit: number;
  /** The channel's history size: only the last `size` Seqs of the stream are retained (older ones may still be stored until pruned). */
  size: number;
  /** Entries with `at < notBefore` are gone by TTL. */
  notBefore: number;
}

/**
 * A page as JSON bytes: the payloads of `entries` joined with commas, in order, UTF-8 (what a reader splices
 * into its answer; bytes, because that is what goes on the wire: a string would be measured and encoded again).
 */
export interface HistoryJsonPage {
  latestSeq: number;
  /** The first entry's Seq, undefined when the page is empty. */
  firstSeq: number | undefined;
  count: number;
  /** `payload,payload,...` as UTF-8 (empty when the page is). */
  joined: Buffer;
}

export interface HistoryPage {
  /** The stream's last committed `Seq` (0 when nothing was ever published on it). */
  latestSeq: number;
  /** Committed, retained entries after `after`, ascending, at most `limit`. */
  entries: HistoryEntry[];
}

/**
 * Port: per-stream message history with a gapless sequence (API.md section 4). A stream is one concrete
 * topic. Its **head** is the last committed `Seq`; an entry above the head is a reservation (a publish in
 * progress, or one abandoned by a crash), never shown to readers. The sequence is exact without
 * transactions: a writer reserves `head + 1` with a conditional insert (only one wins), publishes, then
 * commits (moves the head) or aborts (deletes its reservation); the history service serialises writers of
 * a stream inside one process (a batch of consecutive reservations, then one commit of the last), and
 * writers of other instances meet at the conditional insert.
 */
export abstract class HistoryRepository {
  /** The stream's last committed `Seq` (0 for a stream never written). */
  abstract head(stream: string): Promise<number>;

  /** Stores `entry` under `entry.seq` unless an entry already has that seq; true when stored. */
  abstract reserve(stream: string, entry: HistoryReservation): Promise<boolean>;

  /** The reservation (uncommitted entry) at `seq`, if any: its `at` tells whether its writer is still at work. */
  abstract reservation(stream: string, seq: number): Promise<HistoryEntry | undefined>;

  /** Deletes the uncommitted entry at `seq` if it is still the one reserved at `at`; true when deleted. */
  abstract abort(stream: string, seq: number, at: number): Promise<boolean>;

  /** Moves the head to `seq` (never backwards): the entries up to it (this writer's reservations) become visible. */
  abstract commit(stream: string, seq: number): Promise<void>;

  abstract read(stream: string, query: HistoryReadQuery): Promise<HistoryPage>;

  /**
   * Retention: deletes entries with `seq < keepFrom`, and, when `notBefore` is given, those with `at < notBefore`
   * (a longer sweep: the service asks for it now and then, not on every publish). The head stays.
   */
  abstract prune(stream: string, keepFrom: number, notBefore?: number): Promise<void>;

  /** `read` as JSON text; an engine that can join in the store (SQLite) overrides it. */
  async readJson(stream: string, query: HistoryReadQuery): Promise<HistoryJsonPage> {
    const page = await this.read(stream, query);
    return {
      latestSeq: page.latestSeq,
      firstSeq: page.entries[0]?.seq,
      count: page.entries.length,
      joined: Buffer.from(page.entries.map((entry) => entry.payload).join(','), 'utf8'),
    };
  }
}
