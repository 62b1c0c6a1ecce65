// `kafkatrace repl`: probe blocks typed at a prompt attach at once and keep running while more are
// typed; dot commands inspect and manage them. Built on node:repl for line editing, history,
// multi-line input (a block is complete when its braces balance) and Ctrl-C handling.
import { clearLine, cursorTo } from 'node:readline';
import repl, { type REPLServer } from 'node:repl';
import { errorLine } from '../errors.js';
import { kafkaCatalogue, type KafkaCatalogue } from '../frontend/kafka-catalogue.js';
import { listProbes } from '../frontend/list-probes.js';
import type { SystemInfo } from '../frontend/system.js';
import { complete } from './complete.js';
import { ReplEngine } from './engine.js';
import { isCompleteInput } from './input.js';

const PROMPT = 'kt> ';

const REPL_HELP = `Type a probe block and it attaches at once, e.g.
  tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }
  kafka:produce { @records[args.topic] = sum(args.records); }
A block may span lines: it ends when its braces balance. Blocks that name the same map share it.

  .probes        the attached blocks, by number
  .detach N      detach block N (its maps stay while another block uses them)
  .maps          print every live map
  .print @x      print one map
  .clear @x      clear one map
  .list [GLOB]   list probes and their args (e.g. .list kafka:*)
  .break         abandon the block being typed
  .help          this help
  .exit          detach everything and leave (so do Ctrl-D and Ctrl-C twice)
`;

const COMMANDS = ['probes', 'detach', 'maps', 'print', 'clear', 'list', 'break', 'help', 'exit'];

interface ReplOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Line editing and ANSI redraws; default: whether output is a TTY. */
  terminal?: boolean;
  system: SystemInfo;
  /** Where history is kept; none when undefined. */
  historyFile?: string;
  /** C → BPF object (tests); clang by default. */
  compile?: (c: string) => Promise<Buffer>;
  /** --unsafe: blocks may call system() and signal(). */
  unsafe?: boolean;
}

interface ReplSession {
  server: REPLServer;
  engine: ReplEngine;
  /** Resolves once the REPL has ended and every block is detached. */
  closed: Promise<void>;
}

function catalogueOrNothing(): KafkaCatalogue | undefined {
  try {
    return kafkaCatalogue();
  } catch {
    return undefined;
  }
}

export function startRepl(opts: ReplOptions): ReplSession {
  const terminal = opts.terminal ?? Boolean((opts.output as NodeJS.WriteStream).isTTY);
  let server: REPLServer | undefined;
  let busy = false;
  let ended = false;
  /** Set by .exit: what was typed after it is not run. */
  let exiting = false;
  /** The lines of the block typed so far (node:repl buffers them; completion needs them). */
  let pending = '';

  // Output that arrives while the user is typing (printf records) goes above the prompt, which is
  // then redrawn once per turn of the loop.
  let above = '';
  const flushAbove = (): void => {
    if (above === '') return;
    const text = above;
    above = '';
    if (ended || busy || !server) {
      opts.output.write(text);
      return;
    }
    clearLine(opts.output as NodeJS.WritableStream, 0);
    cursorTo(opts.output as NodeJS.WritableStream, 0);
    opts.output.write(text);
    server.prompt(true);
  };
  const write = (s: string): void => {
    if (!server || busy || !terminal || ended) {
      opts.output.write(s);
      return;
    }
    if (above === '') setImmediate(flushAbove);
    above += s;
  };
  const engine = new ReplEngine({ system: opts.system, write, writeError: write, flush: flushAbove, compile: opts.compile, unsafe: opts.unsafe });

  // Blocks attach one at a time, in the order typed.
  let queue: Promise<unknown> = Promise.resolve();
  const evaluate: repl.REPLEval = (cmd, _context, _file, callback) => {
    if (!isCompleteInput(cmd)) {
      pending = cmd;
      callback(new repl.Recoverable(new Error('incomplete block')), undefined);
      return;
    }
    pending = '';
    busy = true;
    queue = queue
      .then(() => (exiting ? undefined : engine.submit(cmd)))
      .catch((e: unknown) => write(errorLine(e instanceof Error ? e.message : String(e))))
      .finally(() => {
        busy = false;
        callback(null, undefined);
      });
  };

  server = repl.start({
    prompt: PROMPT,
    input: opts.input,
    output: opts.output,
    terminal,
    eval: evaluate,
    ignoreUndefined: true,
    useColors: false,
    preview: false,
    completer: (line: string) =>
      complete(pending, line, {
        system: opts.system,
        kafka: catalogueOrNothing,
        maps: () => engine.mapNames(),
        blocks: () => engine.blockIds(),
        commands: COMMANDS,
      }),
  });
  const s = server;
  const clearBuffered = s.clearBufferedCommand.bind(s);
  s.clearBufferedCommand = () => {
    pending = '';
    clearBuffered();
  };
  // node's own .editor, .load and .save are about JavaScript sessions; .break stays.
  const commands = s.commands as Record<string, unknown>;
  for (const name of Object.keys(commands)) if (!COMMANDS.includes(name)) delete commands[name];

  const command = (name: string, help: string, action: (arg: string) => void): void => {
    s.defineCommand(name, {
      help,
      action(arg: string) {
        // After the blocks typed before it have attached: input is handled in the order typed.
        queue = queue.then(() => {
          if (exiting) return;
          busy = true;
          try {
            action(arg.trim());
          } catch (e) {
            write(errorLine(e instanceof Error ? e.message : String(e)));
          }
          busy = false;
          if (!ended) s.displayPrompt();
        });
      },
    });
  };
  command('help', 'Show the commands', () => write(REPL_HELP));
  command('probes', 'List the attached blocks', () => write(engine.listBlocks()));
  command('maps', 'Print every live map', () => engine.printMaps());
  command('print', 'Print one map: .print @x', (arg) => (arg ? engine.printMap(arg) : write('usage: .print @map\n')));
  command('clear', 'Clear one map: .clear @x', (arg) => (arg ? engine.clearMap(arg) : write('usage: .clear @map\n')));
  command('detach', 'Detach a block: .detach N', (arg) => {
    if (/^\d+$/.test(arg)) engine.detach(Number(arg));
    else write('usage: .detach N (.probes lists the blocks)\n');
  });
  command('list', 'List probes (with a glob: and their args): .list GLOB', (arg) =>
    write(listProbes(arg || undefined, arg !== '', opts.system) || `no probes match ${arg}\n`),
  );
  s.defineCommand('exit', {
    help: 'Detach everything and leave',
    action() {
      queue = queue.then(() => {
        exiting = true;
        s.close();
      });
    },
  });

  const closed = new Promise<void>((resolve) => {
    s.on('exit', () => {
      ended = true;
      // What was typed before the end (piped input ends at once) still runs, then everything detaches.
      void queue.finally(() => {
        engine.close();
        resolve();
      });
    });
  });
  if (opts.historyFile !== undefined) {
    s.setupHistory(opts.historyFile, (err) => {
      if (err) write(`kafkatrace: history is not kept: ${err.message}\n`);
    });
  }
  return { server: s, engine, closed };
}
