// Where a command's output goes, and what happens when it cannot be written. A reader that went away
// (`kafkatrace ... | head -1`: EPIPE) ends the command quietly with status 141, the status a shell
// reports for bpftrace, which SIGPIPE kills; any other failure (-o on a full disk, stdout on
// /dev/full) is one line on stderr and status 1. Either way nothing more is written, and whoever
// listens (a tracing session) is told, so that it stops and detaches in order.
import { closeSync, openSync, writeSync } from 'node:fs';
import { errorLine, KtError } from '../errors.js';

/** A file kafkatrace writes (compile -o) could not be written; the message names it. */
export function outputError(path: string, e: unknown): KtError {
  return new KtError('output-unwritable', `cannot write ${path}: ${errorText(e as NodeJS.ErrnoException)}`);
}

/** A shell's status for a process that SIGPIPE ended (128 + 13). */
const CLOSED_PIPE_STATUS = 141;

export class OutputSink {
  private failed?: NodeJS.ErrnoException;
  private readonly listeners = new Set<() => void>();

  constructor(
    /** What the output is, for the message: `standard output` or the file's name. */
    readonly name: string,
    private readonly writer: (s: string) => void,
  ) {
    sinks.push(this);
  }

  write(s: string): void {
    if (this.failed) return;
    try {
      this.writer(s);
    } catch (e) {
      this.fail(e);
    }
  }

  fail(e: unknown): void {
    if (this.failed) return;
    this.failed = e instanceof Error ? (e as NodeJS.ErrnoException) : Object.assign(new Error(String(e)), { code: undefined });
    for (const l of [...this.listeners]) l();
  }

  get failure(): NodeJS.ErrnoException | undefined {
    return this.failed;
  }

  /** Calls `l` once the output has failed (at once if it has); returns the unsubscription. */
  onFailure(l: () => void): () => void {
    if (this.failed) {
      l();
      return () => {};
    }
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

const sinks: OutputSink[] = [];

/**
 * Standard output. A failed write on it arrives as an 'error' event of process.stdout, which would
 * otherwise crash the process: guardStdio() turns it into this sink's failure.
 */
export const stdout = new OutputSink('standard output', (s) => void process.stdout.write(s));

let guarded = false;

/** A stdio stream's libuv handle, which can clear O_NONBLOCK on its descriptor. */
interface BlockingHandle {
  setBlocking?: (blocking: boolean) => number;
}

/**
 * Listens for write errors on stdout (the sink's failure) and stderr (nowhere left to say them), and
 * makes both blocking again. libuv sets O_NONBLOCK on a pipe, and that flag belongs to the open file,
 * which other processes share: in `kafkatrace -l 2>&1 | grep x` grep's stdout is kafkatrace's
 * stderr, and grep would fail with EAGAIN (status 2) whenever its reader lags, as it never does
 * beside bpftrace.
 */
export function guardStdio(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', (e) => stdout.fail(e));
  process.stderr.on('error', () => {});
  for (const stream of [process.stdout, process.stderr]) {
    (stream as unknown as { _handle?: BlockingHandle })._handle?.setBlocking?.(true);
  }
}

/** A file for -o, written with one system call per piece (a partial write continues). */
export function fileSink(path: string): { sink: OutputSink; close: () => void } {
  const fd = openSync(path, 'w');
  const sink = new OutputSink(path, (s) => {
    const bytes = Buffer.from(s);
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
  });
  return { sink, close: () => closeSync(fd) };
}

/** The description of a system error without its code and system call ("no space left on device"). */
function errorText(e: NodeJS.ErrnoException): string {
  return /^[A-Z0-9]+: (.*?)(, \w+(?: '.*')?)?$/.exec(e.message ?? '')?.[1] ?? String(e.message ?? e);
}

/**
 * How the process ends after an output failed: status 141 and no message for a closed pipe, else
 * status 1 (or the command's own failing status) and one line. Undefined when no output failed.
 */
export function outputFailure(code: number): { code: number; message?: string } | undefined {
  const failed = sinks.find((s) => s.failure !== undefined);
  if (!failed) return undefined;
  const e = failed.failure!;
  if (e.code === 'EPIPE') return { code: CLOSED_PIPE_STATUS };
  return { code: code !== 0 ? code : 1, message: errorLine(`cannot write to ${failed.name}: ${errorText(e)}`) };
}
