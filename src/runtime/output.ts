// Everything kafkatrace prints while a script runs: the attach banner, printf/time/join/cat/print
// records, maps (print() and at exit), lost events; in bpftrace's text format or its JSON lines.
import { readFileSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { errorLine } from '../errors.js';
import { formatPrintf } from './format/printf.js';
import { jsonString } from './format/json.js';
import { mapJson, mapText } from './format/map.js';
import { strftime } from './format/time.js';
import { escapeControls, type RenderContext, valueJson, valueTerminalText, valueText } from './format/value.js';
import { createSymbolizer, type Symbolizer } from './symbols.js';
import type { MapDrops } from './user-maps.js';
import type { DecodedEvent, MapSnapshot, StackLookup, Value } from './values.js';
import type { DecodeHealth } from '../kafka/exchange/counters.js';

export interface OutputOptions {
  format: 'text' | 'json';
  write: (s: string) => void;
  /** Where error messages go; standard error by default. */
  writeError?: (s: string) => void;
  /** Called by flush(), e.g. to flush a buffered stream. */
  flush?: () => void;
  /** Resolves ksym/usym/username; the machine's own by default. */
  symbols?: Symbolizer;
  /** Frames of a stack id in its stack map. */
  stackLookup?: StackLookup;
  /** The clock time() prints; the wall clock by default. */
  now?: () => Date;
  /** Reads the file cat() prints. */
  readFile?: (path: string) => Uint8Array;
  /** Bytes of a file cat() prints at most (BPFTRACE_CAT_BYTES_MAX); bpftrace's 10240 by default. */
  catBytesMax?: number;
  /** -q: no `Attaching N probes...` (text or JSON). */
  quiet?: boolean;
  /** --no-warnings: no WARNING lines on the error stream. */
  noWarnings?: boolean;
  /** The script (`-e` for a one-liner), for the messages that show the place in it they are about. */
  script?: { file: string; text: string };
}

export interface Output {
  /** `Attaching N probes...` */
  attached(probeCount: number): void;
  /**
   * Prints a record: printf, printValue, time, join, cat; an error value becomes an error message.
   * Returns false for records the runtime acts on instead (print, exit, clear, zero, system, signal).
   */
  event(e: DecodedEvent): boolean;
  /** One map, as print(@m, top, div) prints it. */
  printMap(s: MapSnapshot, top?: number, div?: number): void;
  /**
   * All maps sorted by name, as bpftrace prints them at exit (preceded by its two newlines); with
   * atExit false (SIGUSR1), just the maps.
   */
  printMaps(all: MapSnapshot[], opts?: { atExit?: boolean }): void;
  /** `Lost N events` */
  lost(n: number | bigint): void;
  /**
   * A watchpoint found every debug register taken: bpftrace's line (NO_WATCHPOINT_REGISTERS) in the
   * output, in JSON as its data of a `lost_events` record, as bpftrace says it.
   */
  outOfWatchpoints(): void;
  /**
   * The Kafka decoder's health at exit: always a `kafka_decode` record in JSON; in text, a line on
   * the error stream with -v (verbose) only.
   */
  kafkaHealth(h: DecodeHealth, verbose: boolean): void;
  /**
   * A map refused keys because it was full: while running (its first refusal) a warning on the error
   * stream; at exit how many updates it dropped, in the output.
   */
  mapFull(drops: MapDrops, atExit: boolean): void;
  error(message: string): void;
  /** What a system() command wrote to its standard output (JSON: a `syscall` record). */
  syscall(text: string): void;
  /** `WARNING: message` on the error stream, unless --no-warnings. */
  warning(message: string): void;
  /**
   * -k/-kk: a BPF helper failed at `where` in the script. As bpftrace: in text a WARNING in the output
   * (unless --no-warnings) with strerror of a negative return, the script's line and a marker under
   * the expression; in JSON a `helper_error` record.
   */
  helperError(helper: string, retcode: number, where: { line: number; col: number; length: number }): void;
  flush(): void;
}

/** What bpftrace says when a watchpoint finds every debug register taken. */
export const NO_WATCHPOINT_REGISTERS = 'Failed to attach watchpoint probe. You are out of watchpoint registers.';

/** bpftrace prints at most this many bytes of a file with cat() unless BPFTRACE_CAT_BYTES_MAX says otherwise. */
const CAT_MAX_BYTES = 10240;

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
};

/**
 * bpftrace's located message: `FILE:LINE:COL-END: WARNING: message`, the script's line (tabs as four
 * spaces) and `~` under the expression. bpftrace names a one-liner's script `stdin`.
 */
function locatedWarning(script: { file: string; text: string } | undefined, where: { line: number; col: number; length: number }, message: string): string {
  const file = !script || script.file === '-e' ? 'stdin' : script.file;
  const end = where.col + where.length;
  const head = `${escapeControls(file)}:${where.line}:${where.col}-${end}: WARNING: ${message}\n`;
  const line = script?.text.split('\n')[where.line - 1] ?? '';
  if (line === '') return head;
  let marker = '';
  for (let x = 0; x < line.length && x < end - 1; x++) {
    const m = x < where.col - 1 ? ' ' : '~';
    marker += line[x] === '\t' ? m.repeat(4) : m;
  }
  return `${head}${escapeControls(line.replace(/\t/g, '    '))}\n${marker}\n`;
}

/** glibc's strerror() of the errors BPF helpers return, by name. */
const STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  E2BIG: 'Argument list too long',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  ERANGE: 'Numerical result out of range',
  EOPNOTSUPP: 'Operation not supported',
};

/** strerror(errno) as glibc words it. */
function strerror(errno: number): string {
  const name = getSystemErrorMap().get(-errno)?.[0];
  return (name && STRERROR[name]) ?? `Unknown error ${errno}`;
}

function errnoText(e: unknown): string {
  const code = (e as { code?: string }).code;
  return (code && ERRNO_TEXT[code]) ?? (e instanceof Error ? e.message : String(e));
}

export function createOutput(opts: OutputOptions): Output {
  const json = opts.format === 'json';
  const ctx: RenderContext = { symbols: opts.symbols ?? createSymbolizer(), stackLookup: opts.stackLookup };
  const write = opts.write;
  const writeError = opts.writeError ?? ((s: string) => void process.stderr.write(s));
  const now = opts.now ?? (() => new Date());
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p));
  const catBytesMax = opts.catBytesMax ?? CAT_MAX_BYTES;
  const warn = (s: string): void => {
    if (!opts.noWarnings) writeError(`WARNING: ${s}\n`);
  };
  const raw = (v: Value): string => valueText(v, ctx);
  // Text output escapes control characters in values (the script's own format strings aside); JSON escapes them itself.
  const render = json ? raw : (v: Value): string => valueTerminalText(v, ctx);

  /** A text message, or a JSON `{"type": type, "data": "..."}` line. */
  const message = (type: string, text: string, newline: boolean): void => {
    write(json ? `{"type": "${type}", "data": ${jsonString(text)}}\n` : newline ? text + '\n' : text);
  };

  const error = (msg: string): void => writeError(errorLine(msg));

  const printMap = (s: MapSnapshot, top = 0, div = 1): void => {
    write(json ? mapJson(s, ctx, top, div) : mapText(s, ctx, top, div));
  };

  return {
    attached(n) {
      if (opts.quiet) return;
      if (json) write(`{"type": "attached_probes", "data": {"probes": ${n}}}\n`);
      else write(`Attaching ${n} ${n === 1 ? 'probe' : 'probes'}...\n`);
    },
    event(e) {
      if (!e.ok) {
        error(e.error);
        return true;
      }
      const ev = e.event;
      switch (ev.kind) {
        case 'printf':
          message('printf', formatPrintf(ev.format, e.args, render), false);
          return true;
        case 'time':
          message('time', strftime(ev.format, now()), false);
          return true;
        case 'join': {
          // The record holds a fixed number of slots; bpftrace stops at the array's NULL, which
          // arrives here as the empty slots after the last element.
          const parts = e.args.map(render);
          while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
          message('join', parts.join(ev.separator), true);
          return true;
        }
        case 'printValue': {
          const v = e.args[0] ?? { kind: 'none' };
          write(json ? `{"type": "value", "data": ${valueJson(v, ctx)}}\n` : valueTerminalText(v, ctx) + '\n');
          return true;
        }
        case 'cat': {
          const path = formatPrintf(ev.format, e.args, raw);
          let content = '';
          try {
            content = Buffer.from(readFile(path).subarray(0, catBytesMax)).toString('utf8');
          } catch (err) {
            error(`failed to open file '${escapeControls(path)}': ${errnoText(err)}`);
          }
          // bpftrace still emits the (empty) cat message after a failure: a JSON line, no text.
          message('cat', content, false);
          return true;
        }
        default:
          return false;
      }
    },
    printMap,
    printMaps(all, o = {}) {
      if (o.atExit ?? true) write('\n\n');
      const sorted = [...all].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const s of sorted) printMap(s);
    },
    outOfWatchpoints() {
      message('lost_events', NO_WATCHPOINT_REGISTERS, true);
    },
    lost(n) {
      if (json) write(`{"type": "lost_events", "data": {"events": ${n}}}\n`);
      else write(`Lost ${n} events\n`);
    },
    kafkaHealth(h, verbose) {
      if (json) {
        const figures = h.figures.map((f) => `"${f.name}": ${f.value}`).join(', ');
        const failed = Object.entries(h.failed).map(([reason, n]) => `"${reason}": ${n}`).join(', ');
        write(`{"type": "kafka_decode", "data": {${figures}, "frames_failed": {${failed}}}}\n`);
      } else if (verbose) {
        writeError(kafkaHealthText(h));
      }
    },
    mapFull(d, atExit) {
      const raise = '--map-keys-max or BPFTRACE_MAP_KEYS_MAX raises the limit';
      if (!atExit) warn(`map ${d.name} is full (${d.maxKeys} keys): updates that add a key are dropped; ${raise}`);
      else if (json) write(`{"type": "map_full", "data": {"map": ${jsonString(d.name)}, "max_keys": ${d.maxKeys}, "dropped": ${d.dropped}}}\n`);
      else write(`Dropped ${d.dropped} ${d.dropped === 1 ? 'update' : 'updates'} of ${d.name}: the map was full (${d.maxKeys} keys; ${raise})\n`);
    },
    error,
    syscall: (text) => message('syscall', text, false),
    warning: warn,
    helperError(helper, retcode, where) {
      if (json) {
        write(`{"type": "helper_error", "helper": ${jsonString(helper)}, "retcode": ${retcode}, "line": ${where.line}, "col": ${where.col}}\n`);
        return;
      }
      if (opts.noWarnings) return;
      const what = retcode < 0 ? `${strerror(-retcode)} (${retcode})` : String(retcode);
      write(locatedWarning(opts.script, where, `Failed to ${helper}: ${what}`));
    },
    flush() {
      opts.flush?.();
    },
  };
}

/** The -v exit lines of the Kafka decoder's health. */
function kafkaHealthText(h: DecodeHealth): string {
  const v = Object.fromEntries(h.figures.map((f) => [f.name, f.value]));
  const failed = Object.entries(h.failed).filter(([, n]) => n > 0).map(([reason, n]) => `${reason} ${n}`);
  return (
    `Kafka decode: ${v.exchanges} exchanges (${v.unanswered} unanswered), ${v.frames_decoded} frames (${v.frames_truncated} truncated), ` +
    `${v.resyncs} resyncs, ${v.bytes_skipped} bytes skipped, ${v.bytes_dropped} bytes dropped, ${v.bad_records} bad capture records\n` +
    `Kafka frames lost: ${v.frames_lost_ring_full} ring buffer full, ${v.frames_lost_after_loss} after a loss, ` +
    `${v.frames_lost_too_many} too many in one syscall; ${v.capture_desyncs} desyncs (frames unknown); ${v.sendfile_unread} sendfile reads failed (batches unknown)\n` +
    `Kafka frames failed: ${failed.length > 0 ? failed.join(', ') : 'none'}\n`
  );
}
