// From readings of the maps to the states the view draws: rates between one reading and the next,
// and which log entries each frame shows: the latest few when redrawn in place; when frames follow
// one another, the new ones, and all of them in the last frame (the summary people keep).
import type { MapSnapshot } from '../runtime/values.js';
import type { DemoLog, LogEntry } from './events.js';
import { ratesBetween, totalsOf, type DemoTotals } from './stats.js';
import type { ViewState } from './view.js';

export interface DemoSetting {
  /** What the broker is, for the header: "mock Kafka", "Apache Kafka 4.4.0". */
  broker: string;
  bootstrap: string;
  topic: string;
  partitions: number;
  group: string;
  durationMs: number;
}

/** Log entries a redrawn frame shows. */
const LIVE_LOG_LINES = 10;

export class Frames {
  private prev?: { totals: DemoTotals; atMs: number };
  private lastShown?: LogEntry;

  constructor(
    private readonly setting: DemoSetting,
    private readonly log: DemoLog,
    private readonly mode: 'live' | 'plain',
  ) {}

  /** The frame for a reading taken `elapsedMs` into the run; rates since the previous reading. */
  next(snapshots: MapSnapshot[], elapsedMs: number, lost = 0): ViewState {
    const totals = totalsOf(snapshots);
    const sinceMs = this.prev?.atMs ?? 0;
    const windowMs = Math.max(1, elapsedMs - sinceMs);
    const rates = ratesBetween(this.prev?.totals, totals, windowMs / 1000);
    this.prev = { totals, atMs: elapsedMs };
    return this.state(totals, rates, elapsedMs, windowMs, false, lost);
  }

  /** The last frame, from the maps as the session left them: rates are averages over the run. */
  final(snapshots: MapSnapshot[], elapsedMs: number, lost = 0): ViewState {
    const totals = totalsOf(snapshots);
    const rates = ratesBetween(undefined, totals, Math.max(1, elapsedMs) / 1000);
    return this.state(totals, rates, elapsedMs, elapsedMs, true, lost);
  }

  private entries(final: boolean): LogEntry[] {
    const all = this.log.entries();
    if (this.mode === 'live') return all.slice(-LIVE_LOG_LINES);
    if (final) return [...all];
    const from = this.lastShown ? all.indexOf(this.lastShown) + 1 : 0;
    const fresh = all.slice(from);
    if (fresh.length > 0) this.lastShown = fresh[fresh.length - 1];
    return fresh;
  }

  private state(totals: DemoTotals, rates: ViewState['rates'], elapsedMs: number, rateWindowMs: number, final: boolean, lost: number): ViewState {
    return {
      ...this.setting,
      elapsedMs,
      totals,
      rates,
      rateWindowMs,
      final,
      groups: this.log.groups(),
      log: this.entries(final),
      ...(lost > 0 ? { lost } : {}),
    };
  }
}
