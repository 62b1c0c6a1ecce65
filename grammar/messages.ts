// Syntax error messages in bpftrace's spirit: say what was found, what was expected, and where the
// construct that is still open began.
import { EOF, tokenMatcher, type IParserErrorMessageProvider, type IToken, type TokenType } from 'chevrotain';
import * as T from './tokens.js';

export interface OpenConstruct {
  kind: 'probe block' | 'block' | 'predicate';
  token: IToken;
}

/** How every message about a missing `}` begins. */
export const UNCLOSED_BLOCK = "expected '}' to close";

/** How a token is named in a message. */
function describeToken(t: IToken): string {
  if (t.tokenType === EOF) return 'the end of the input';
  if (tokenMatcher(t, T.AttachPoint)) return `attach point '${t.image}'`;
  const image = t.image.length > 40 ? `${t.image.slice(0, 37)}...` : t.image;
  if (tokenMatcher(t, T.StringLit)) return `string ${image}`;
  return `'${image}'`;
}

function at(t: IToken): string {
  return `${t.startLine}:${t.startColumn}`;
}

/** Token types whose mismatch with a found `=` is most likely a `==` typo. */
const closersOfConditions = [T.RParen, T.PredClose, T.RBracket, T.Comma, T.Colon, T.Question];

function labelOf(t: TokenType): string {
  return t.LABEL ?? t.name;
}

function firstLabels(paths: TokenType[][]): string[] {
  const labels = new Set<string>();
  for (const p of paths) if (p[0]) labels.add(labelOf(p[0]));
  return [...labels];
}

function listOf(labels: string[]): string {
  if (labels.length <= 1) return labels[0] ?? 'something else';
  return `${labels.slice(0, -1).join(', ')} or ${labels[labels.length - 1]}`;
}

const expressionRules = new Set([
  'expression', 'ternary', 'logicalOr', 'logicalAnd', 'bitOr', 'bitXor', 'bitAnd', 'equality', 'relational',
  'shift', 'additive', 'multiplicative', 'unary', 'postfix', 'primary', 'parenthesised',
]);

export class ParserMessages implements IParserErrorMessageProvider {
  /** The parser's stack of open constructs, shared so messages can say where they began. */
  open: OpenConstruct[] = [];

  buildMismatchTokenMessage(options: { expected: TokenType; actual: IToken; previous: IToken; ruleName: string }): string {
    const { expected, actual } = options;
    const found = describeToken(actual);
    if (tokenMatcher(actual, T.Assign) && closersOfConditions.includes(expected)) {
      return "unexpected '=': did you mean '=='?";
    }
    if (expected === T.RCurly) {
      const opener = [...this.open].reverse().find((o) => o.kind !== 'predicate');
      if (opener) return `${UNCLOSED_BLOCK} the ${opener.kind} opened at ${at(opener.token)}, found ${found}`;
    }
    if (expected === T.PredClose) {
      const opener = [...this.open].reverse().find((o) => o.kind === 'predicate');
      if (opener) return `expected '/' to close the predicate opened at ${at(opener.token)}, found ${found}`;
    }
    if (expected === T.AttachPoint) {
      return `expected an attach point (like tracepoint:syscalls:sys_enter_openat, kafka:produce or BEGIN), found ${found}`;
    }
    if (expected === T.LCurly && options.ruleName === 'block' && this.open.length === 0) {
      return `expected '{' to start the probe's action block, found ${found}`;
    }
    if (expected === T.LCurly) return `expected '{' (blocks need braces), found ${found}`;
    if (expected === T.Colon && options.ruleName === 'forStatement') {
      return `expected ':' as in 'for ($kv : @map)', found ${found}`;
    }
    return `expected ${labelOf(expected)}, found ${found}`;
  }

  buildNotAllInputParsedMessage(options: { firstRedundant: IToken; ruleName: string }): string {
    return `unexpected ${describeToken(options.firstRedundant)} after the end of the probe`;
  }

  buildNoViableAltMessage(options: {
    expectedPathsPerAlt: TokenType[][][];
    actual: IToken[];
    previous: IToken;
    customUserDescription?: string;
    ruleName: string;
  }): string {
    const actual = options.actual[0]!;
    const found = describeToken(actual);
    if (tokenMatcher(actual, T.Assign)) return "unexpected '=': did you mean '=='?";
    if (expressionRules.has(options.ruleName)) return `expected an expression, found ${found}`;
    if (options.ruleName === 'simpleStatement' || options.ruleName === 'statements') {
      return `expected a statement, found ${found}`;
    }
    const labels = firstLabels(options.expectedPathsPerAlt.flat());
    return `expected ${listOf(labels)}, found ${found}`;
  }

  buildEarlyExitMessage(options: {
    expectedIterationPaths: TokenType[][];
    actual: IToken[];
    previous: IToken;
    customUserDescription?: string;
    ruleName: string;
  }): string {
    const actual = options.actual[0]!;
    const found = describeToken(actual);
    if (options.ruleName === 'probe' && tokenMatcher(actual, T.RCurly)) return "unexpected '}': there is no open block to close";
    if (options.ruleName === 'probe') {
      return `expected an attach point (like tracepoint:syscalls:sys_enter_openat, kafka:produce or BEGIN), found ${found}`;
    }
    if (options.ruleName === 'mapRef') return `expected a map key expression, found ${found}`;
    if (expressionRules.has(options.ruleName) || options.ruleName === 'parenOrTuple') {
      return `expected an expression, found ${found}`;
    }
    return `expected ${listOf(firstLabels(options.expectedIterationPaths))}, found ${found}`;
  }
}
