// What happened, in order: rebalances, members joining and leaving (from the demo script's printf
// records) and the scenario's own steps. kafka:rebalance may fire once per member or once per
// generation; either way one rebalance is one (group, generation), and its firings are counted.
import type { DecodedEvent, Value } from '../runtime/values.js';
import { EVENT_FORMATS } from './script.js';

export interface RebalanceEntry {
  kind: 'rebalance';
  /** Milliseconds since the demo started. */
  at: number;
  group: string;
  generation: number;
  /** The largest member count any firing reported (only the leader's JoinGroup lists members). */
  members: number;
  durationMs: number;
  firings: number;
}

export interface TextEntry {
  kind: 'join' | 'leave' | 'scenario' | 'error';
  at: number;
  text: string;
}

export type LogEntry = RebalanceEntry | TextEntry;

export interface GroupState {
  group: string;
  generation: number;
  members: number;
  /** Distinct generations seen completing. */
  rebalances: number;
  /** Members that joined and have not left, by member id. */
  joined: Set<string>;
}

/** The log keeps this many entries; the view shows the last few. */
const KEEP = 200;

function text(v: Value | undefined): string {
  return typeof v === 'string' ? v : v === undefined ? '' : String(v);
}

function int(v: Value | undefined): number {
  return typeof v === 'bigint' ? Number(v) : 0;
}

export class DemoLog {
  private readonly log: LogEntry[] = [];
  private readonly byGroup = new Map<string, GroupState>();
  private readonly rebalances = new Map<string, RebalanceEntry>();

  constructor(private readonly now: () => number) {}

  /** Takes a printf record of the demo script; false for any other record. */
  record(e: DecodedEvent): boolean {
    if (!e.ok || e.event.kind !== 'printf') return false;
    const a = e.args;
    switch (e.event.format) {
      case EVENT_FORMATS.rebalance:
        this.rebalance(text(a[0]), int(a[1]), int(a[2]), int(a[3]));
        return true;
      case EVENT_FORMATS.join:
        this.join(text(a[0]), text(a[1]), text(a[2]), int(a[3]));
        return true;
      case EVENT_FORMATS.leave:
        this.leave(text(a[0]), text(a[1]), text(a[2]));
        return true;
      default:
        return false;
    }
  }

  note(kind: 'scenario' | 'error', message: string): void {
    this.push({ kind, at: this.now(), text: message });
  }

  entries(): readonly LogEntry[] {
    return this.log;
  }

  groups(): GroupState[] {
    return [...this.byGroup.values()].sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  }

  private push(entry: LogEntry): void {
    this.log.push(entry);
    if (this.log.length > KEEP) this.log.splice(0, this.log.length - KEEP);
  }

  private group(name: string): GroupState {
    let g = this.byGroup.get(name);
    if (!g) {
      g = { group: name, generation: -1, members: 0, rebalances: 0, joined: new Set() };
      this.byGroup.set(name, g);
    }
    return g;
  }

  private rebalance(group: string, generation: number, members: number, durationMs: number): void {
    const g = this.group(group);
    const key = `${group}\u0000${generation}`;
    let entry = this.rebalances.get(key);
    if (entry) {
      entry.firings++;
      entry.members = Math.max(entry.members, members);
    } else {
      entry = { kind: 'rebalance', at: this.now(), group, generation, members, durationMs, firings: 1 };
      this.rebalances.set(key, entry);
      this.push(entry);
      g.rebalances++;
    }
    if (generation >= g.generation) {
      g.generation = generation;
      g.members = entry.members;
    }
  }

  private join(group: string, member: string, clientId: string, generation: number): void {
    if (member === '') return;
    const g = this.group(group);
    // Every member rejoins at every rebalance; only a member id not seen before is news.
    if (g.joined.has(member)) return;
    g.joined.add(member);
    this.push({ kind: 'join', at: this.now(), text: `${clientId} joined ${group} (generation ${generation}) as ${member}` });
  }

  private leave(group: string, member: string, clientId: string): void {
    this.group(group).joined.delete(member);
    this.push({ kind: 'leave', at: this.now(), text: `${clientId} left ${group}${member ? ` (${member})` : ''}` });
  }
}
