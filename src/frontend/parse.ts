// Script text → AST. Lexes the whole script, splits it into probes, and parses each probe on its
// own, so that every probe's first syntax error is reported, not only the script's first.
import { createTokenInstance, EOF, tokenMatcher, type ILexingError, type IRecognitionException, type IToken } from 'chevrotain';
import { tokenize } from '../../grammar/lexer.js';
import { locAt, tokenLoc } from '../../grammar/loc.js';
import { ParserMessages, UNCLOSED_BLOCK } from '../../grammar/messages.js';
import { KtParser } from '../../grammar/parser.js';
import * as T from '../../grammar/tokens.js';
import type { AttachPayload } from '../../grammar/attach-scanner.js';
import type { Loc, PreambleItem, Probe, Script } from './ast.js';
import { error, type Diagnostic } from './diagnostics.js';

interface ParseResult {
  /** Present when the script has no syntax errors. */
  script?: Script;
  diagnostics: Diagnostic[];
}

/** Brackets nested deeper than this are refused before parsing (the parser is recursive). */
const MAX_NESTING = 100;
/**
 * Syntax trees deeper than this are refused: the stages after parsing walk them recursively (a sum
 * of 1,000 terms is a chain of 999 operators).
 */
export const MAX_DEPTH = 1024;
/** Prefix operators in a row (`!!!!x`) beyond this are refused before parsing (the parser recurses on them). */
const MAX_PREFIX_RUN = MAX_NESTING;
/** Tokens that can only be prefix operators when they follow one another. */
const prefixOperators = [T.Bang, T.Tilde, T.Minus, T.Star, T.Amp, T.IncDecOp];
/** Past this many errors the rest are noise: stop and say so. */
const MAX_ERRORS = 20;

let parser: KtParser | undefined;

/** The parser is built once per process: chevrotain's self-analysis is costly. */
function getParser(): KtParser {
  parser ??= new KtParser(new ParserMessages());
  return parser;
}

export function parse(source: string, file: string): ParseResult {
  try {
    return parseScript(source, file);
  } catch (e) {
    // A bug in the parser must still reach the user as a diagnostic, not a stack trace.
    const reason = e instanceof Error ? e.message : String(e);
    return { diagnostics: [error(file, locAt(source, 0, 0), `internal parser error: ${reason}`)] };
  }
}

interface Problem {
  loc: Loc;
  message: string;
  /** Set on an unterminated string or comment: it may have swallowed closing braces. */
  swallows?: boolean;
}

interface Lexed {
  tokens: IToken[];
  problems: Problem[];
}

function parseScript(source: string, file: string): ParseResult {
  const { tokens, problems } = lexScript(source);
  const lexical = [...problems];
  const preamble: PreambleItem[] = [];
  const probes: Probe[] = [];
  for (const chunk of splitProbes(tokens, preamble)) {
    if (problems.length > MAX_ERRORS) break;
    const result = parseProbe(chunk, source);
    // After a lexical error (an unterminated string, a stray character) the parser's complaints in
    // the same probe are consequences of it, so they are left out.
    const start = chunk[0]!.startOffset;
    const end = endOf(chunk, source).offset;
    const firstLexical = lexical.reduce((min, p) => (p.loc.offset >= start && p.loc.offset <= end ? Math.min(min, p.loc.offset) : min), Infinity);
    append(problems, result.problems.filter((p) => p.loc.offset < firstLexical));
    if (result.probe) probes.push(result.probe);
  }
  const sorted = dedupe(problems);
  const diagnostics = sorted.slice(0, MAX_ERRORS).map((p) => error(file, p.loc, p.message));
  const extra = sorted[MAX_ERRORS];
  if (extra) diagnostics.push(error(file, extra.loc, `too many syntax errors: stopped after ${MAX_ERRORS}`));
  if (diagnostics.length > 0) return { diagnostics };
  return {
    script: { kind: 'script', file, preamble, probes, loc: { line: 1, col: 1, offset: 0, length: source.length } },
    diagnostics,
  };
}

/** Problems sorted by position, one per position (recovery can report one spot twice). */
function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<number>();
  return [...problems]
    .sort((a, b) => a.loc.offset - b.loc.offset)
    .filter((p) => {
      if (seen.has(p.loc.offset)) return false;
      seen.add(p.loc.offset);
      return true;
    });
}

function lexingProblem(source: string, e: ILexingError): Problem {
  const code = source.codePointAt(e.offset);
  const c = code === undefined ? '' : String.fromCodePoint(code);
  const loc: Loc = { line: e.line ?? 0, col: e.column ?? 0, offset: e.offset, length: e.length };
  if (c === '$') return { loc: { ...loc, length: 1 }, message: "'$' must be followed by a variable name ($x), a parameter number ($1) or '#'" };
  if (c === '#') return { loc: { ...loc, length: 1 }, message: "a '#' preprocessor line is only allowed outside probe blocks" };
  const shown = c === '\n' ? '\\n' : c;
  return { loc: { ...loc, length: 1 }, message: `invalid character '${shown}'` };
}

/** Lexer problems of one lexing run that lie before `end`. */
function lexedProblems(source: string, result: ReturnType<typeof tokenize>, shift: ShiftBy, end: number): Problem[] {
  const problems: Problem[] = [];
  for (const e of result.errors) {
    const p = lexingProblem(source, { ...e, offset: e.offset + shift.offset, line: (e.line ?? 1) + shift.lines });
    if (p.loc.offset < end) problems.push(p);
  }
  for (const c of result.groups['comments'] ?? []) {
    if (c.image.startsWith('/*') && (c.image.length < 4 || !c.image.endsWith('*/')) && c.startOffset < end) {
      problems.push({ loc: { ...tokenLoc(c), length: 2 }, message: 'unterminated comment: missing the closing */', swallows: true });
    }
  }
  for (const t of result.tokens) {
    if (t.startOffset >= end) break;
    if (t.tokenType === T.UnterminatedString) problems.push({ loc: tokenLoc(t), message: 'unterminated string literal', swallows: true });
    const quote = t.tokenType === T.AttachPoint ? (t.payload as AttachPayload).unterminatedQuote : undefined;
    if (quote !== undefined) {
      const loc = tokenLoc(t);
      problems.push({ loc: { ...loc, col: loc.col + quote - t.startOffset, offset: quote, length: t.endOffset! + 1 - quote }, message: 'unterminated string literal', swallows: true });
    }
  }
  return problems;
}

/** Pushes every item of `from` onto `to`: push(...from) passes them as arguments, and runs out of stack on a long script. */
function append<X>(to: X[], from: readonly X[]): void {
  for (const x of from) to.push(x);
}

interface ShiftBy {
  offset: number;
  lines: number;
}

/** Moves the tokens of a lexing run that started at `shift.offset` (always a line start) into place. */
function shiftTokens(tokens: IToken[], shift: ShiftBy): void {
  if (shift.offset === 0) return;
  for (const t of tokens) {
    t.startOffset += shift.offset;
    if (t.endOffset !== undefined) t.endOffset += shift.offset;
    if (t.startLine !== undefined) t.startLine += shift.lines;
    if (t.endLine !== undefined) t.endLine += shift.lines;
  }
}

/**
 * Lexes the script. A probe block left open swallows the rest of the script into its body; when a
 * line inside a block starts (at column 1) with what looks like the next probe, the block is closed
 * there with an error, and lexing starts again in top-level mode from that line.
 */
function lexScript(source: string): Lexed {
  const tokens: IToken[] = [];
  const problems: Problem[] = [];
  let shift: ShiftBy = { offset: 0, lines: 0 };
  for (;;) {
    const result = tokenize(shift.offset === 0 ? source : source.slice(shift.offset));
    shiftTokens(result.tokens, shift);
    shiftTokens(result.groups['comments'] ?? [], shift);
    const cut = findUnclosedBlock(result.tokens);
    const end = cut ? cut.at.startOffset : source.length + 1;
    const lexical = lexedProblems(source, result, shift, end);
    append(problems, lexical);
    // A string or comment left open inside a block may have eaten its closing brace: then that is
    // the error to report, not the brace.
    const swallowed = (open: IToken[]) => lexical.some((p) => p.swallows && p.loc.offset > open[0]!.startOffset);
    if (!cut) {
      append(tokens, result.tokens);
      const open = openBraces(result.tokens);
      if (open.length > 0) {
        const eof = result.tokens[result.tokens.length - 1]!.endOffset! + 1;
        if (!swallowed(open)) problems.push({ loc: locAt(source, eof, 0), message: unclosedMessage(open) });
        append(tokens, closers(open.length, eof));
      }
      return { tokens, problems };
    }
    append(tokens, result.tokens.slice(0, cut.index));
    if (!swallowed(cut.open)) problems.push({ loc: tokenLoc(cut.at), message: unclosedMessage(cut.open) });
    append(tokens, closers(cut.open.length, cut.at.startOffset));
    shift = { offset: cut.at.startOffset, lines: cut.at.startLine! - 1 };
  }
}

function unclosedMessage(open: IToken[]): string {
  const innermost = open[open.length - 1]!;
  const what = open.length === 1 ? 'probe block' : 'block';
  return `${UNCLOSED_BLOCK} the ${what} opened at ${innermost.startLine}:${innermost.startColumn}`;
}

/** Stand-in `}` tokens that close blocks left open, so the parser can still read what they hold. */
function closers(count: number, offset: number): IToken[] {
  return Array.from({ length: count }, () => createTokenInstance(T.BodyRCurly, '}', offset, offset - 1, NaN, NaN, NaN, NaN));
}

const opensBlock = (t: IToken) => t.tokenType === T.TopLCurly || t.tokenType === T.PredLCurly || t.tokenType === T.BodyLCurly;

/** The `{` tokens still open after `tokens`. */
function openBraces(tokens: IToken[]): IToken[] {
  const open: IToken[] = [];
  for (const t of tokens) {
    if (opensBlock(t)) open.push(t);
    else if (t.tokenType === T.BodyRCurly) open.pop();
  }
  return open;
}

const probeStartNames = new Set(['BEGIN', 'END']);

/** The first token inside an open block that looks like the start of the next probe. */
function findUnclosedBlock(tokens: IToken[]): { index: number; at: IToken; open: IToken[] } | undefined {
  const open: IToken[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (opensBlock(t)) open.push(t);
    else if (t.tokenType === T.BodyRCurly) open.pop();
    else if (open.length > 0 && t.startColumn === 1 && tokenMatcher(t, T.Ident) && i > 0 && tokens[i - 1]!.endLine! < t.startLine!) {
      const next = tokens[i + 1];
      const colonAttached = next !== undefined && next.tokenType === T.Colon && next.startOffset === t.endOffset! + 1;
      const beginEnd = probeStartNames.has(t.image) && next !== undefined && (tokenMatcher(next, T.LCurly) || next.tokenType === T.Comma);
      if (colonAttached || beginEnd) return { index: i, at: t, open: [...open] };
    }
  }
  return undefined;
}

/** Splits top-level tokens into probes; preprocessor lines and C definitions go to `preamble`. */
function splitProbes(tokens: IToken[], preamble: PreambleItem[]): IToken[][] {
  const chunks: IToken[][] = [];
  let current: IToken[] | undefined;
  let depth = 0;
  for (const t of tokens) {
    if (depth === 0 && (t.tokenType === T.Preprocessor || t.tokenType === T.CDefinition)) {
      // A `#!` interpreter line first in the file is not part of the program.
      const shebang = t.image.startsWith('#!') && chunks.length === 0 && preamble.length === 0;
      if (!shebang) preamble.push({ text: t.image, line: t.startLine ?? 1 });
      current = undefined;
      continue;
    }
    if (!current) {
      current = [];
      chunks.push(current);
    }
    current.push(t);
    if (opensBlock(t)) depth++;
    else if (t.tokenType === T.BodyRCurly && --depth === 0) current = undefined;
  }
  return chunks;
}

function nestingProblem(tokens: IToken[]): Problem | undefined {
  let depth = 0;
  let run = 0;
  for (const t of tokens) {
    run = prefixOperators.some((type) => tokenMatcher(t, type)) ? run + 1 : 0;
    if (run > MAX_PREFIX_RUN) return { loc: tokenLoc(t), message: `operators nested too deeply (more than ${MAX_PREFIX_RUN} prefix operators in a row)` };
    if (opensBlock(t) || t.tokenType === T.LParen || t.tokenType === T.LBracket) {
      if (++depth > MAX_NESTING) return { loc: tokenLoc(t), message: `brackets nested too deeply (more than ${MAX_NESTING} levels)` };
    } else if (tokenMatcher(t, T.RCurly) || t.tokenType === T.RParen || t.tokenType === T.RBracket) {
      depth--;
    }
  }
  return undefined;
}

function parseProbe(tokens: IToken[], source: string): { probe?: Probe; problems: Problem[] } {
  const tooDeep = nestingProblem(tokens);
  if (tooDeep) return { problems: [tooDeep] };
  const p = getParser();
  p.begin(tokens);
  let probe: Probe;
  try {
    probe = p.probe();
  } catch (e) {
    if (e instanceof RangeError) {
      return { problems: [{ loc: tokenLoc(tokens[0]!), message: 'expression nested too deeply' }] };
    }
    throw e;
  }
  const end = endOf(tokens, source);
  const problems = independentErrors(p.errors, tokens).map((e) => recognitionProblem(e, end));
  // After the first error the tree is patched up by recovery, so problems found in its structure
  // may be bogus; bad literals are still bad.
  const limit = problems[0]?.loc.offset ?? Infinity;
  append(problems, p.problems.filter((q) => q.lexical || q.loc.offset < limit).map(({ loc, message }) => ({ loc, message })));
  const deep = problems.length === 0 ? deepStatement(probe) : undefined;
  if (deep) problems.push({ loc: deep, message: `expression too deep (more than ${MAX_DEPTH} levels of operators, calls and brackets): split it with variables` });
  return problems.length > 0 ? { problems } : { probe, problems };
}

/** Where a syntax tree is deeper than MAX_DEPTH: the statement holding the deep part; measured without recursion. */
function deepStatement(probe: Probe): Loc | undefined {
  const stack: [unknown, number, Loc | undefined][] = [[probe, 0, undefined]];
  while (stack.length > 0) {
    const [node, depth, statement] = stack.pop()!;
    if (depth > MAX_DEPTH) return statement;
    for (const [key, child] of Object.entries(node as object)) {
      if (key === 'loc' || key === 'type' || !child || typeof child !== 'object') continue;
      const at = statement ?? (depth === 1 ? (node as { loc?: Loc }).loc : undefined);
      stack.push([child, Array.isArray(child) ? depth : depth + 1, at]);
    }
  }
  return undefined;
}

/**
 * Where "the end of the input" is for a probe: just after its last real token, from the token's own
 * end position (finding the line of an offset reads the source up to it: once per probe made
 * checking many probes quadratic).
 */
function endOf(tokens: IToken[], source: string): Loc {
  for (let i = tokens.length - 1; i >= 0; i--) {
    const t = tokens[i]!;
    if (Number.isNaN(t.startLine)) continue;
    const offset = t.endOffset! + 1;
    if (source[t.endOffset!] === '\n') return { line: t.endLine! + 1, col: 1, offset, length: 0 };
    return { line: t.endLine!, col: t.endColumn! + 1, offset, length: 0 };
  }
  return locAt(source, source.length, 0);
}

/**
 * The errors of chevrotain's recovery that are not echoes of an earlier one: an error counts when a
 * `;` or `}` lies between it and the previous one (it is in a later statement), and it is not the
 * "expected '}'" that recovery produces when it gives up on a block.
 */
function independentErrors(errors: IRecognitionException[], tokens: IToken[]): IRecognitionException[] {
  const kept: IRecognitionException[] = [];
  for (const e of errors) {
    const prev = kept[kept.length - 1];
    if (!prev) {
      kept.push(e);
      continue;
    }
    const from = prev.token.startOffset;
    const to = e.token.startOffset;
    if (!(to > from) || e.message.startsWith(UNCLOSED_BLOCK)) continue;
    const boundary = tokens.some((t) => t.startOffset >= from && t.startOffset < to && (t.tokenType === T.Semi || tokenMatcher(t, T.RCurly)));
    if (boundary) kept.push(e);
  }
  return kept;
}

function recognitionProblem(e: IRecognitionException, endOfChunk: Loc): Problem {
  const t = e.token;
  const atEnd = t.tokenType === EOF || Number.isNaN(t.startOffset) || t.startLine === undefined || Number.isNaN(t.startLine);
  return { loc: atEnd ? endOfChunk : tokenLoc(t), message: e.message };
}
