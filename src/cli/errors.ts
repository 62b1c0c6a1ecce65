// How a failure ends the process: the kind of the error (src/errors.ts) decides the text on stderr and
// the exit status. Only a kafkatrace bug shows as an internal error; nothing shows a stack trace
// unless KAFKATRACE_DEBUG asks for it.
import { errorLine, type ErrorKind, isKtError, KtError } from '../errors.js';
import { HELP } from './args.js';
import { isNativeError } from '../native/index.js';

interface FailureReport {
  /** What goes to stderr, ending in a newline. */
  text: string;
  status: number;
}

/** Where errors that carry no kind come from: the addon's are the kernel's, some errno ones the user's. */
function kindOf(e: unknown): ErrorKind {
  if (e instanceof KtError) return e.kind;
  if (isNativeError(e)) return 'kernel-feature';
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'ENOENT' || code === 'EEXIST' || code === 'ENOTDIR') return 'user';
  return 'internal';
}

const REPORT_HINT = '(a kafkatrace bug: please report it with the script and the command line; set KAFKATRACE_DEBUG=1 for the stack trace)';

export function failureReport(e: unknown, debug: boolean): FailureReport {
  const message = e instanceof Error ? e.message : String(e);
  switch (kindOf(e)) {
    case 'usage':
      // An option that does not exist gets the whole usage, as bpftrace prints it.
      if (isKtError(e, 'unknown-option')) return { text: `${errorLine(message)}\n${HELP}`, status: 1 };
      return { text: errorLine(message), status: 1 };
    case 'script':
      // Rendered diagnostics already say file:line:col.
      return { text: `${message}\n`, status: 1 };
    case 'user':
    case 'environment':
    case 'kernel-feature':
      return { text: errorLine(message), status: 1 };
    case 'bad-input':
    case 'internal': {
      const detail = debug && e instanceof Error && e.stack ? e.stack : message;
      return { text: `${errorLine(`internal error: ${detail}`)}${REPORT_HINT}\n`, status: 1 };
    }
  }
}
