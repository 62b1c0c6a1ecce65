// Token types of the kafkatrace language and the lexer modes that choose between them.
//
// The lexer has three modes because the top level of a script is not made of expression tokens:
//   top   attach points, `,`, preprocessor lines, C definitions, the `/` opening a predicate, `{`
//   pred  expression tokens until the `/` that closes the predicate (a `/` followed by `{`)
//   body  expression and statement tokens; `{` pushes another body, `}` pops back
import { createToken, Lexer, type TokenType } from 'chevrotain';
import { matchAttachPoint, matchCDefinition } from './attach-scanner.js';

// Every token built from a regular expression states whether it can span lines (`line_breaks`) and
// the characters it can start with (`start_chars_hint`). chevrotain otherwise works both out by
// parsing each expression when the lexer is built, a good part of a first compile's start-up;
// test/unit/lexer-hints.test.ts checks the declarations against a lexer built without them.

const tokens: TokenType[] = [];
function token(config: Parameters<typeof createToken>[0]): TokenType {
  const t = createToken(config);
  tokens.push(t);
  return t;
}

/** The characters of `ranges`, written as in a character class (`A-Za-z_`). */
function chars(ranges: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < ranges.length; i++) {
    if (ranges[i + 1] === '-' && i + 2 < ranges.length) {
      for (let c = ranges.charCodeAt(i); c <= ranges.charCodeAt(i + 2); c++) out.push(String.fromCharCode(c));
      i += 2;
    } else out.push(ranges[i]!);
  }
  return out;
}
const IDENT_START = chars('A-Za-z_');

// Trivia, shared by every mode.
const Whitespace = token({ name: 'Whitespace', pattern: /[ \t\r\n\f\v\uFEFF]+/, group: Lexer.SKIPPED, line_breaks: true, start_chars_hint: [...' \t\r\n\f\v\uFEFF'] });
const LineComment = token({ name: 'LineComment', pattern: /\/\/[^\r\n]*/, group: 'comments', line_breaks: false, start_chars_hint: ['/'] });
/** A block comment; one without its closing star-slash runs to the end of the input (reported later). */
const BlockComment = token({ name: 'BlockComment', pattern: /\/\*(?:[^*]|\*(?!\/))*(?:\*\/)?/, group: 'comments', line_breaks: true, start_chars_hint: ['/'] });

// Top level.
export const Preprocessor = token({ name: 'Preprocessor', pattern: /#(?:[^\r\n\\]|\\[^])*/, label: "a '#' preprocessor line", line_breaks: true, start_chars_hint: ['#'] });
export const CDefinition = token({ name: 'CDefinition', pattern: { exec: matchCDefinition }, line_breaks: true, start_chars_hint: ['s', 'u', 'e'], label: 'a C definition' });
export const AttachPoint = token({
  name: 'AttachPoint',
  pattern: { exec: matchAttachPoint },
  line_breaks: false,
  start_chars_hint: IDENT_START,
  label: 'an attach point',
});

// Abstract categories the parser consumes; the concrete tokens below differ only in mode changes.
export const LCurly = token({ name: 'LCurly', pattern: Lexer.NA, label: "'{'" });
export const RCurly = token({ name: 'RCurly', pattern: Lexer.NA, label: "'}'" });
export const Comma = token({ name: 'Comma', pattern: ',', label: "','" });
export const StringLit = token({ name: 'StringLit', pattern: /"(?:[^"\\\n]|\\[^\n])*"/, line_breaks: true, start_chars_hint: ['"'], label: 'a string' });
/** A string with no closing quote on its line: parsed as a string, reported by the lexer stage. */
export const UnterminatedString = token({ name: 'UnterminatedString', pattern: /"(?:[^"\\\r\n]|\\[^\r\n])*\\?/, categories: [StringLit], line_breaks: false, start_chars_hint: ['"'], label: 'a string' });

const TopComma = token({ name: 'TopComma', pattern: ',', categories: [Comma], label: "','" });
export const TopLCurly = token({ name: 'TopLCurly', pattern: '{', categories: [LCurly], push_mode: 'body', label: "'{'" });
const TopRCurly = token({ name: 'TopRCurly', pattern: '}', categories: [RCurly], label: "'}'" });
export const PredOpen = token({ name: 'PredOpen', pattern: '/', push_mode: 'pred', label: "'/'" });
/** Anything else at the top level: one character, so the parser can name it in its message. */
const JUNK = /[\uD800-\uDBFF][\uDC00-\uDFFF]|[^\s]/y;
// A custom pattern: it can start with nearly any character, so the top mode's first-character index
// could not hold it either way, and as a regular expression it would be parsed just to learn that.
const TopJunk = token({
  name: 'TopJunk',
  pattern: {
    exec: (text: string, offset: number) => {
      JUNK.lastIndex = offset;
      return JUNK.exec(text);
    },
  },
  line_breaks: false,
  label: 'a character',
});

// Predicate mode.
// The closing `/` is the one followed (after blanks and comments) by `{`, like bpftrace's ENDPRED.
export const PredClose = token({
  name: 'PredClose',
  pattern: /\/(?=(?:\s|\/\/[^\n]*|\/\*(?:[^*]|\*(?!\/))*\*\/)*\{)/,
  pop_mode: true,
  // What it consumes is the `/` alone; the blanks and `{` are only looked at.
  line_breaks: false,
  start_chars_hint: ['/'],
  label: "'/'",
});
/** `{` while a predicate is still open: the predicate lacks its closing `/`; lex the block anyway. */
export const PredLCurly = token({ name: 'PredLCurly', pattern: '{', categories: [LCurly], pop_mode: true, push_mode: 'body', label: "'{'" });
const PredRCurly = token({ name: 'PredRCurly', pattern: '}', categories: [RCurly], pop_mode: true, label: "'}'" });

// Body mode braces.
export const BodyLCurly = token({ name: 'BodyLCurly', pattern: '{', categories: [LCurly], push_mode: 'body', label: "'{'" });
export const BodyRCurly = token({ name: 'BodyRCurly', pattern: '}', categories: [RCurly], pop_mode: true, label: "'}'" });

// Words.
/** Anything that can name a field after `.` or `->`: identifiers and keywords. */
export const Word = token({ name: 'Word', pattern: Lexer.NA, label: 'a name' });
export const Ident = token({ name: 'Ident', pattern: /[A-Za-z_][A-Za-z0-9_]*/, categories: [Word], line_breaks: false, start_chars_hint: IDENT_START, label: 'an identifier' });
function keyword(word: string): TokenType {
  return token({ name: `Kw_${word}`, pattern: word, longer_alt: Ident, categories: [Word], label: `'${word}'` });
}
export const If = keyword('if');
export const Else = keyword('else');
export const While = keyword('while');
export const Unroll = keyword('unroll');
export const For = keyword('for');
export const Return = keyword('return');
export const Break = keyword('break');
export const Continue = keyword('continue');
export const Struct = keyword('struct');
export const Union = keyword('union');
export const Enum = keyword('enum');

// Literals and references. Integer literals are scanned greedily (`0x1F`, `1_000`, `1e6`, `10ul`)
// and checked when parsed, so that `12ab` gets one clear message.
export const IntLit = token({ name: 'IntLit', pattern: /[0-9][A-Za-z0-9_]*/, line_breaks: false, start_chars_hint: chars('0-9'), label: 'an integer' });
export const Variable = token({ name: 'Variable', pattern: /\$[A-Za-z_][A-Za-z0-9_]*/, line_breaks: false, start_chars_hint: ['$'], label: 'a variable' });
export const Positional = token({ name: 'Positional', pattern: /\$[0-9]+/, line_breaks: false, start_chars_hint: ['$'], label: 'a positional parameter' });
export const ArgCount = token({ name: 'ArgCount', pattern: '$#', label: "'$#'" });
export const MapName = token({ name: 'MapName', pattern: /@(?:[A-Za-z_][A-Za-z0-9_]*)?/, line_breaks: false, start_chars_hint: ['@'], label: 'a map' });

// Operator categories, so that one rule per precedence level consumes any operator of its level.
export const AssignOp = token({ name: 'AssignOp', pattern: Lexer.NA, label: 'an assignment' });
export const EqualityOp = token({ name: 'EqualityOp', pattern: Lexer.NA, label: "'==' or '!='" });
export const RelationalOp = token({ name: 'RelationalOp', pattern: Lexer.NA, label: 'a comparison' });
export const ShiftOp = token({ name: 'ShiftOp', pattern: Lexer.NA, label: "'<<' or '>>'" });
export const AdditiveOp = token({ name: 'AdditiveOp', pattern: Lexer.NA, label: "'+' or '-'" });
export const MultiplicativeOp = token({ name: 'MultiplicativeOp', pattern: Lexer.NA, label: "'*', '/' or '%'" });
export const IncDecOp = token({ name: 'IncDecOp', pattern: Lexer.NA, label: "'++' or '--'" });

function op(name: string, pattern: string, categories: TokenType[] = []): TokenType {
  return token({ name, pattern, categories, label: `'${pattern}'` });
}
// Longest first: chevrotain takes the first pattern that matches.
const ShlAssign = op('ShlAssign', '<<=', [AssignOp]);
const ShrAssign = op('ShrAssign', '>>=', [AssignOp]);
const PlusAssign = op('PlusAssign', '+=', [AssignOp]);
const MinusAssign = op('MinusAssign', '-=', [AssignOp]);
const StarAssign = op('StarAssign', '*=', [AssignOp]);
const SlashAssign = op('SlashAssign', '/=', [AssignOp]);
const PercentAssign = op('PercentAssign', '%=', [AssignOp]);
const AmpAssign = op('AmpAssign', '&=', [AssignOp]);
const PipeAssign = op('PipeAssign', '|=', [AssignOp]);
const CaretAssign = op('CaretAssign', '^=', [AssignOp]);
export const Arrow = op('Arrow', '->');
const PlusPlus = op('PlusPlus', '++', [IncDecOp]);
const MinusMinus = op('MinusMinus', '--', [IncDecOp]);
const Shl = op('Shl', '<<', [ShiftOp]);
const Shr = op('Shr', '>>', [ShiftOp]);
const Le = op('Le', '<=', [RelationalOp]);
const Ge = op('Ge', '>=', [RelationalOp]);
const EqEq = op('EqEq', '==', [EqualityOp]);
const NotEq = op('NotEq', '!=', [EqualityOp]);
export const AndAnd = op('AndAnd', '&&');
export const OrOr = op('OrOr', '||');
const Lt = op('Lt', '<', [RelationalOp]);
const Gt = op('Gt', '>', [RelationalOp]);
export const Assign = op('Assign', '=', [AssignOp]);
const Plus = op('Plus', '+', [AdditiveOp]);
export const Minus = op('Minus', '-', [AdditiveOp]);
export const Star = op('Star', '*', [MultiplicativeOp]);
const Slash = op('Slash', '/', [MultiplicativeOp]);
const Percent = op('Percent', '%', [MultiplicativeOp]);
export const Amp = op('Amp', '&');
export const Pipe = op('Pipe', '|');
export const Caret = op('Caret', '^');
export const Bang = op('Bang', '!');
export const Tilde = op('Tilde', '~');
export const Question = op('Question', '?');
export const Colon = op('Colon', ':');
export const Semi = op('Semi', ';');
export const Dot = op('Dot', '.');
export const LParen = op('LParen', '(');
export const RParen = op('RParen', ')');
export const LBracket = op('LBracket', '[');
export const RBracket = op('RBracket', ']');

const trivia = [Whitespace, LineComment, BlockComment];
const keywords = [If, Else, While, Unroll, For, Return, Break, Continue, Struct, Union, Enum];
const expressionTokens = [
  StringLit, UnterminatedString, ...keywords, Ident, IntLit, ArgCount, Positional, Variable, MapName,
  ShlAssign, ShrAssign, PlusAssign, MinusAssign, StarAssign, SlashAssign, PercentAssign, AmpAssign,
  PipeAssign, CaretAssign, Arrow, PlusPlus, MinusMinus, Shl, Shr, Le, Ge, EqEq, NotEq, AndAnd, OrOr,
  Lt, Gt, Assign, Plus, Minus, Star, Slash, Percent, Amp, Pipe, Caret, Bang, Tilde, Question, Colon,
  Semi, Dot, LParen, RParen, LBracket, RBracket, Comma,
];

export const lexerDefinition = {
  defaultMode: 'top',
  modes: {
    top: [...trivia, Preprocessor, CDefinition, AttachPoint, TopComma, TopLCurly, TopRCurly, PredOpen, TopJunk],
    pred: [...trivia, PredClose, PredLCurly, PredRCurly, ...expressionTokens],
    body: [...trivia, BodyLCurly, BodyRCurly, ...expressionTokens],
  },
};

/** Every token type, categories included, for the parser. */
export const allTokens: TokenType[] = tokens;
