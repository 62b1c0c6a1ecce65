// kafkatrace's errors: one type whose stable code says what went wrong and whose kind says who has
// to act on it, which decides how the CLI shows it (src/cli/errors.ts) and its exit status.

/**
 * Who has to act:
 * - usage: the command line is wrong (an unknown option gets the usage after its message);
 * - script: the script is wrong; the message is its rendered diagnostics, or one located construct;
 * - user: what the user asked for cannot be done as asked (a file, an address, a -c command);
 * - environment: something to install or to grant (clang, the addon, privileges, tracefs);
 * - kernel-feature: the kernel lacks or refuses what the script needs;
 * - bad-input: bytes from the wire or a file are not what they claim; callers count and skip them,
 *   so one that reaches the CLI is a bug, shown as internal;
 * - internal: a kafkatrace bug.
 */
export type ErrorKind = 'usage' | 'script' | 'user' | 'environment' | 'kernel-feature' | 'bad-input' | 'internal';

/** Every code with its kind. Codes are stable: tests and callers match on them, never on messages. */
export const ERROR_CODES = {
  usage: 'usage',
  'unknown-option': 'usage',
  'script-unreadable': 'usage',
  'no-such-tool': 'usage',
  'agent-config': 'script',
  diagnostics: 'script',
  'unsupported-construct': 'script',
  'output-unwritable': 'user',
  'bad-command': 'user',
  'no-such-process': 'user',
  'needs-unsafe': 'user',
  'listen-failed': 'user',
  'capture-config': 'user',
  'session-ended': 'user',
  'binary-unreadable': 'user',
  'config-unreadable': 'user',
  'kube-config': 'user',
  'kube-api': 'user',
  'toolchain-missing': 'environment',
  'native-unavailable': 'environment',
  'catalogue-invalid': 'environment',
  'no-privilege': 'environment',
  'no-tracefs': 'environment',
  'mock-broker': 'environment',
  'apache-kafka': 'environment',
  'kernel-refused': 'kernel-feature',
  'attach-failed': 'kernel-feature',
  'elf-invalid': 'bad-input',
  'dwarf-invalid': 'bad-input',
  'plan-invalid': 'bad-input',
  'short-data': 'bad-input',
  'capture-record': 'bad-input',
  'kafka-frame': 'bad-input',
  internal: 'internal',
  'c-compile': 'internal',
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class KtError extends Error {
  override name = 'KtError';
  readonly kind: ErrorKind;

  /** Named apart from `code`, which node's errors use for errno names that callers test. */
  constructor(
    readonly errorCode: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.kind = ERROR_CODES[errorCode];
  }
}

/** Whether `e` is a KtError, of one of `codes` when some are given. */
export function isKtError(e: unknown, ...codes: ErrorCode[]): e is KtError {
  return e instanceof KtError && (codes.length === 0 || codes.includes(e.errorCode));
}

/**
 * A failure that has no script location, as bpftrace prints its errors: one line, `ERROR: ` first.
 * Located script diagnostics render themselves (src/frontend/diagnostics.ts).
 */
export function errorLine(message: string): string {
  return `ERROR: ${message}\n`;
}

/** A stage received what an earlier stage should have rejected or filled in: a kafkatrace bug. */
export class InternalError extends KtError {
  override name = 'InternalError';

  constructor(message: string) {
    super('internal', message);
  }
}
