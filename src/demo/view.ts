// The demo's screen as lines of text: header, traffic per topic, clients, requests per API, groups
// and the event log. Pure: the same state renders the same text, colour only when asked for.
import picocolors from 'picocolors';
import type { GroupState, LogEntry } from './events.js';
import type { DemoRates, DemoTotals } from './stats.js';

export interface ViewState {
  /** What the broker is: "mock Kafka", "Apache Kafka 4.4.0". */
  broker: string;
  bootstrap: string;
  topic: string;
  partitions: number;
  group: string;
  elapsedMs: number;
  durationMs: number;
  totals: DemoTotals;
  rates: DemoRates;
  /** The window the rates are measured over. */
  rateWindowMs: number;
  /** The last frame, once everything has stopped: rates are then averages over the run. */
  final: boolean;
  groups: GroupState[];
  /** The log entries to show, oldest first. */
  log: readonly LogEntry[];
  /** Capture records the kernel dropped, when there were any. */
  lost?: number;
}

interface ViewOptions {
  color: boolean;
  /** Lines available (a terminal's height): the API table and the log shrink to fit. */
  rows?: number;
}

type Colors = ReturnType<typeof picocolors.createColors>;

/** Text from the wire (client ids, member ids, groups) with its control characters made harmless. */
function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** `s` cut or padded to `width` characters; cut text ends in an ellipsis. */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const s = printable(text);
  if (s.length > width) return width <= 1 ? s.slice(0, width) : s.slice(0, width - 1) + '…';
  return align === 'left' ? s.padEnd(width) : s.padStart(width);
}

/** m:ss.s since the start. */
export function clock(ms: number): string {
  const tenths = Math.floor(ms / 100);
  const minutes = Math.floor(tenths / 600);
  const seconds = (tenths % 600) / 10;
  return `${minutes}:${seconds.toFixed(1).padStart(4, '0')}`;
}

function rate(n: number): string {
  return n.toFixed(1);
}

function kib(bytes: number): string {
  return (bytes / 1024).toFixed(1);
}

function latency(us: number | undefined): string {
  if (us === undefined) return '-';
  return us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${Math.round(us)} µs`;
}

/** A table: a heading line and one line per row, columns padded (first column left-aligned). */
function table(c: Colors, widths: number[], heading: string[], rows: string[][]): string[] {
  const line = (cells: string[]): string => cells.map((cell, i) => fit(cell, widths[i]!, i === 0 ? 'left' : 'right')).join('  ').trimEnd();
  return [c.bold(line(heading)), ...rows.map(line)];
}

function sortedKeys<V>(m: Map<string, V>): string[] {
  return [...m.keys()].sort();
}

function header(s: ViewState, c: Colors): string[] {
  const title = `${c.bold(c.cyan('kafkatrace demo'))}  ${s.broker} at ${s.bootstrap}`;
  const scene = `topic ${s.topic} (${s.partitions} partitions), consumer group ${s.group}`;
  const seconds = Math.min(s.elapsedMs, s.durationMs) / 1000;
  const status = s.final
    ? `finished after ${seconds.toFixed(1)} s; rates are averages over the run`
    : `${seconds.toFixed(0)} s of ${(s.durationMs / 1000).toFixed(0)} s; rates over the last ${Math.max(1, Math.round(s.rateWindowMs / 1000))} s (Ctrl-C stops)`;
  const lost = s.lost ? c.red(`  ${s.lost} capture records lost`) : '';
  return [title, scene, c.dim(status) + lost];
}

function topics(s: ViewState, c: Colors): string[] {
  const rows = sortedKeys(s.totals.topics).map((name) => {
    const t = s.totals.topics.get(name)!;
    const r = s.rates.topics.get(name);
    return [
      name,
      rate(r?.producedRecords ?? 0), kib(r?.producedBytes ?? 0), rate(r?.fetchedRecords ?? 0), kib(r?.fetchedBytes ?? 0),
      String(t.producedRecords), String(t.fetchedRecords),
    ];
  });
  if (rows.length === 0) return [c.dim('no produce or fetch seen yet')];
  return table(c, [16, 8, 8, 9, 9, 8, 9], ['TOPIC', 'in rec/s', 'in KiB/s', 'out rec/s', 'out KiB/s', 'in total', 'out total'], rows);
}

function clients(s: ViewState, c: Colors): string[] {
  const rows: string[][] = [];
  for (const id of sortedKeys(s.totals.producers)) {
    rows.push([id, 'producer', rate(s.rates.producers.get(id) ?? 0), String(s.totals.producers.get(id))]);
  }
  for (const id of sortedKeys(s.totals.consumers)) {
    rows.push([id, 'consumer', rate(s.rates.consumers.get(id) ?? 0), String(s.totals.consumers.get(id))]);
  }
  if (rows.length === 0) return [];
  return table(c, [20, 9, 9, 10], ['CLIENT ID', 'role', 'rec/s', 'records'], rows);
}

/** The API table; with `limit`, only the busiest APIs (most requests), still in name order. */
function apis(s: ViewState, c: Colors, limit = Infinity): string[] {
  let names = sortedKeys(s.totals.apis);
  if (names.length === 0) return [];
  const heading = names.length > limit ? `API (top ${limit} of ${names.length})` : 'API';
  if (names.length > limit) {
    const busiest = new Set([...names].sort((a, b) => s.totals.apis.get(b)!.requests - s.totals.apis.get(a)!.requests).slice(0, limit));
    names = names.filter((n) => busiest.has(n));
  }
  const rows = names.map((api) => {
    const r = s.rates.apis.get(api);
    return [api, rate(r?.requests ?? 0), latency(r?.latencyUs), String(s.totals.apis.get(api)!.requests)];
  });
  return table(c, [20, 9, 12, 10], [heading, 'req/s', 'avg latency', 'requests'], rows);
}

function groups(s: ViewState, c: Colors): string[] {
  const rows = s.groups.map((g) => [
    g.group,
    g.generation < 0 ? '-' : String(g.generation),
    g.members > 0 ? String(g.members) : '-',
    String(g.rebalances),
    String(s.totals.rebalanceFirings.get(g.group) ?? 0),
  ]);
  if (rows.length === 0) return [c.dim('no consumer group has rebalanced yet')];
  return table(c, [20, 10, 8, 10, 8], ['GROUP', 'generation', 'members', 'rebalances', 'firings'], rows);
}

function logLine(e: LogEntry, c: Colors): string {
  const at = c.dim(clock(e.at).padStart(7));
  switch (e.kind) {
    case 'rebalance': {
      const members = e.members > 0 ? `, ${e.members} ${e.members === 1 ? 'member' : 'members'}` : '';
      return `${at}  ${c.yellow('rebalance')}  ${printable(e.group)} generation ${e.generation}${members}, took ${e.durationMs} ms`;
    }
    case 'join':
      return `${at}  ${c.green('join     ')}  ${printable(e.text)}`;
    case 'leave':
      return `${at}  ${c.magenta('leave    ')}  ${printable(e.text)}`;
    case 'scenario':
      return `${at}  ${c.blue('demo     ')}  ${printable(e.text)}`;
    case 'error':
      return `${at}  ${c.red('error    ')}  ${printable(e.text)}`;
  }
}

/** Fewest rows the API table and the log keep when the frame has to shrink. */
const MIN_ROWS = 3;

function frame(s: ViewState, c: Colors, apiLimit: number, logLimit: number): string[] {
  const shown = logLimit < s.log.length ? s.log.slice(s.log.length - logLimit) : s.log;
  const log = shown.map((e) => logLine(e, c));
  const sections = [header(s, c), topics(s, c), clients(s, c), apis(s, c, apiLimit), groups(s, c), [c.bold('EVENTS'), ...(log.length > 0 ? log : [c.dim('nothing yet')])]];
  return sections.filter((lines) => lines.length > 0).flatMap((lines, i) => (i === 0 ? lines : ['', ...lines]));
}

export function renderView(s: ViewState, o: ViewOptions): string[] {
  const c = picocolors.createColors(o.color);
  let apiLimit = s.totals.apis.size;
  let logLimit = s.log.length;
  let lines = frame(s, c, apiLimit, logLimit);
  // Shrink the larger of the two until the frame fits or both are down to their minimum.
  while (o.rows !== undefined && lines.length > o.rows && (apiLimit > MIN_ROWS || logLimit > MIN_ROWS)) {
    if (apiLimit > MIN_ROWS && (apiLimit >= logLimit || logLimit <= MIN_ROWS)) apiLimit--;
    else logLimit--;
    lines = frame(s, c, apiLimit, logLimit);
  }
  return lines;
}
