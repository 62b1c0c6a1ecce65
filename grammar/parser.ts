// The kafkatrace grammar: a chevrotain EmbeddedActionsParser that builds the AST of
// grammar/ast.ts directly. One probe is parsed per invocation of `probe` (see parse.ts, which
// splits a script into probes so that an error in one probe does not hide errors in the next).
import { EmbeddedActionsParser, tokenMatcher, type ILookaheadStrategy, type IToken, type TokenType } from 'chevrotain';
import type {
  AttachPoint, Expr, IfStmt, Loc, MapRef, Probe, Stmt, VarRef,
} from './ast.js';
import type { AttachPayload } from './attach-scanner.js';
import { decodeString, parseInteger } from './literals.js';
import { tabledLookahead } from './lookahead.js';
import { LOOKAHEAD_TABLE } from './lookahead-table.js';
import { span, tokenLoc } from './loc.js';
import { ParserMessages, type OpenConstruct } from './messages.js';
import * as T from './tokens.js';

/** A syntax problem found by the grammar's actions rather than by chevrotain's matching. */
interface ActionProblem {
  loc: Loc;
  message: string;
  /** About one token (a bad literal), so it holds even where error recovery patched the tree. */
  lexical?: boolean;
}

interface Block {
  stmts: Stmt[];
  loc: Loc;
}

/** Tokens of lookahead the grammar needs at most (its table is computed for this many). */
export const MAX_LOOKAHEAD = 3;

const noLoc: Loc = { line: 0, col: 0, offset: 0, length: 0 };
// What a rule that failed returns during error recovery (the script is rejected anyway).
const placeholder = (): Expr => ({ kind: 'int', value: 0n, raw: '0', loc: noLoc });
const emptyBlock = (): Stmt => ({ kind: 'block', body: [], loc: noLoc });
const recoverExpr = { recoveryValueFunc: placeholder };
const recoverStmt = { recoveryValueFunc: emptyBlock };

/** Names that make `(name)e` a cast rather than a parenthesised expression. */
const castTypeNames = new Set([
  'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
  'u8', 'u16', 'u32', 'u64', 's8', 's16', 's32', 's64', 'char', 'short', 'int', 'long', 'bool',
]);

/** Tokens that can start an operand: after `(name)` they make it a cast of a typedef'd name. */
const operandStarts = [T.Variable, T.MapName, T.IntLit, T.StringLit, T.Ident, T.Positional, T.ArgCount, T.LParen, T.Bang, T.Tilde];

/** Tokens that can start a statement, to tell a missing `;` from other mistakes. */
const statementStarts = [
  T.Variable, T.MapName, T.IntLit, T.StringLit, T.Ident, T.Positional, T.ArgCount, T.LParen, T.Bang, T.Tilde,
  T.Minus, T.Star, T.Amp, T.IncDecOp, T.If, T.While, T.Unroll, T.For, T.Return, T.Break, T.Continue, T.LCurly,
];

/**
 * An expression used as a statement. `c ? a : b;` is `if (c) { a; } else { b; }`, as bpftrace runs it:
 * its branches may be calls that return nothing (`nsecs ? printf("yes") : printf("no")`).
 */
function expressionStatement(e: Expr): Stmt {
  if (e.kind !== 'ternary') return { kind: 'exprStmt', expr: e, loc: e.loc };
  return { kind: 'if', cond: e.cond, then: [expressionStatement(e.then)], else: [expressionStatement(e.else)], loc: e.loc };
}

function matchesAny(t: IToken, types: TokenType[]): boolean {
  return types.some((type) => tokenMatcher(t, type));
}

export class KtParser extends EmbeddedActionsParser {
  /** Problems found by actions (bad literals, bad assignment targets), reset by `begin`. */
  problems: ActionProblem[] = [];
  /** Open braces and predicates, innermost last, for "expected '}' to close ..." messages. */
  readonly open: OpenConstruct[] = [];

  /**
   * `validate` runs chevrotain's grammar checks (slow; the unit tests do it, start-up does not).
   * `lookahead` defaults to the precomputed table (lookahead.ts).
   */
  constructor(messages: ParserMessages, validate = false, lookahead?: ILookaheadStrategy) {
    super(T.allTokens, {
      recoveryEnabled: true,
      maxLookahead: MAX_LOOKAHEAD,
      errorMessageProvider: messages,
      skipValidations: !validate,
      lookaheadStrategy: lookahead ?? tabledLookahead(LOOKAHEAD_TABLE, T.allTokens, MAX_LOOKAHEAD),
    });
    messages.open = this.open;
    this.performSelfAnalysis();
  }

  /** Prepares for one probe's tokens. */
  begin(tokens: IToken[]): void {
    this.input = tokens;
    this.problems = [];
    this.open.length = 0;
  }

  private problem(loc: Loc, message: string, lexical = false): void {
    // Nodes made up by error recovery have no position; the error that caused them is reported.
    if (!(loc.line >= 1)) return;
    this.problems.push(lexical ? { loc, message, lexical } : { loc, message });
  }

  public probe = this.RULE('probe', (): Probe => {
    const attach: AttachPoint[] = [];
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () => {
        const t = this.CONSUME(T.AttachPoint);
        this.ACTION(() => attach.push(this.attachPoint(t)));
      },
    });
    let predicate: Expr | undefined;
    this.OPTION(() => {
      const open = this.CONSUME(T.PredOpen);
      this.ACTION(() => this.open.push({ kind: 'predicate', token: open }));
      predicate = this.SUBRULE(this.expression);
      this.CONSUME(T.PredClose);
      this.ACTION(() => this.open.pop());
    });
    const body = this.SUBRULE(this.block, { ARGS: [true] });
    return this.ACTION(() => {
      const first = attach[0]?.loc ?? body.loc;
      const probe: Probe = { kind: 'probe', attach, body: body.stmts, loc: span(first, body.loc) };
      if (predicate) probe.predicate = predicate;
      return probe;
    });
  });

  private attachPoint(t: IToken): AttachPoint {
    // A token made up by error recovery has no payload.
    const payload = (t.payload as AttachPayload | undefined) ?? { provider: '', parts: [] };
    return { kind: 'attach', provider: payload.provider, parts: payload.parts, raw: t.image, loc: tokenLoc(t) };
  }

  private block = this.RULE(
    'block',
    (isProbe: boolean): Block => {
      const open = this.CONSUME(T.LCurly);
      this.ACTION(() => this.open.push({ kind: isProbe ? 'probe block' : 'block', token: open }));
      const stmts = this.SUBRULE(this.statements);
      const close = this.CONSUME(T.RCurly);
      this.ACTION(() => this.open.pop());
      return this.ACTION(() => ({ stmts, loc: span(tokenLoc(open), tokenLoc(close)) }));
    },
    { recoveryValueFunc: () => ({ stmts: [], loc: noLoc }) },
  );

  private statements = this.RULE('statements', (): Stmt[] => {
    const stmts: Stmt[] = [];
    this.MANY(() => {
      this.OR([
        // An empty statement: `;;`, or a `;` after a block.
        { ALT: () => { this.CONSUME(T.Semi); } },
        { ALT: () => { stmts.push(this.SUBRULE(this.compoundStatement)); } },
        {
          ALT: () => {
            stmts.push(this.SUBRULE(this.simpleStatement));
            const semi = this.OPTION(() => this.CONSUME2(T.Semi));
            this.ACTION(() => {
              const next = this.LA(1);
              if (semi === undefined && matchesAny(next, statementStarts)) {
                this.problem(tokenLoc(next), `expected ';' before '${next.image}'`);
              }
            });
          },
        },
      ]);
    });
    return stmts;
  });

  private compoundStatement = this.RULE(
    'compoundStatement',
    (): Stmt =>
      this.OR([
        { ALT: () => this.SUBRULE(this.ifStatement) },
        { ALT: () => this.SUBRULE(this.whileStatement) },
        { ALT: () => this.SUBRULE(this.unrollStatement) },
        { ALT: () => this.SUBRULE(this.forStatement) },
        {
          ALT: () => {
            const b = this.SUBRULE(this.block, { ARGS: [false] });
            return this.ACTION((): Stmt => ({ kind: 'block', body: b.stmts, loc: b.loc }));
          },
        },
      ]),
    recoverStmt,
  );

  private ifStatement = this.RULE('ifStatement', (): IfStmt => {
    const kw = this.CONSUME(T.If);
    const cond = this.SUBRULE(this.parenthesised);
    const then = this.SUBRULE(this.block, { ARGS: [false] });
    let elseBody: Stmt[] | undefined;
    let end = then.loc;
    this.OPTION(() => {
      this.CONSUME(T.Else);
      this.OR([
        {
          ALT: () => {
            const nested = this.SUBRULE(this.ifStatement);
            this.ACTION(() => {
              elseBody = [nested];
              end = nested.loc;
            });
          },
        },
        {
          ALT: () => {
            const b = this.SUBRULE2(this.block, { ARGS: [false] });
            this.ACTION(() => {
              elseBody = b.stmts;
              end = b.loc;
            });
          },
        },
      ]);
    });
    return this.ACTION(() => {
      const s: IfStmt = { kind: 'if', cond, then: then.stmts, loc: span(tokenLoc(kw), end) };
      if (elseBody) s.else = elseBody;
      return s;
    });
  }, { recoveryValueFunc: (): IfStmt => ({ kind: 'if', cond: placeholder(), then: [], loc: noLoc }) });

  private whileStatement = this.RULE('whileStatement', (): Stmt => {
    const kw = this.CONSUME(T.While);
    const cond = this.SUBRULE(this.parenthesised);
    const body = this.SUBRULE(this.block, { ARGS: [false] });
    return this.ACTION((): Stmt => ({ kind: 'while', cond, body: body.stmts, loc: span(tokenLoc(kw), body.loc) }));
  }, recoverStmt);

  private unrollStatement = this.RULE('unrollStatement', (): Stmt => {
    const kw = this.CONSUME(T.Unroll);
    const count = this.SUBRULE(this.parenthesised);
    const body = this.SUBRULE(this.block, { ARGS: [false] });
    return this.ACTION((): Stmt => ({ kind: 'unroll', count, body: body.stmts, loc: span(tokenLoc(kw), body.loc) }));
  }, recoverStmt);

  private forStatement = this.RULE('forStatement', (): Stmt => {
    const kw = this.CONSUME(T.For);
    this.CONSUME(T.LParen);
    const v = this.CONSUME(T.Variable);
    this.CONSUME(T.Colon);
    const m = this.CONSUME(T.MapName);
    this.CONSUME(T.RParen);
    const body = this.SUBRULE(this.block, { ARGS: [false] });
    return this.ACTION((): Stmt => ({
      kind: 'for',
      variable: { kind: 'var', name: v.image, loc: tokenLoc(v) },
      map: { kind: 'map', name: m.image, keys: [], loc: tokenLoc(m) },
      body: body.stmts,
      loc: span(tokenLoc(kw), body.loc),
    }));
  }, recoverStmt);

  private parenthesised = this.RULE(
    'parenthesised',
    (): Expr => {
      this.CONSUME(T.LParen);
      const e = this.SUBRULE(this.expression);
      this.CONSUME(T.RParen);
      return e;
    },
    recoverExpr,
  );

  private simpleStatement = this.RULE(
    'simpleStatement',
    (): Stmt =>
      this.OR([
        {
          ALT: () => {
            const kw = this.CONSUME(T.Return);
            const value = this.OPTION(() => this.SUBRULE(this.expression));
            return this.ACTION((): Stmt => (value ? { kind: 'return', value, loc: span(tokenLoc(kw), value.loc) } : { kind: 'return', loc: tokenLoc(kw) }));
          },
        },
        {
          ALT: () => {
            const kw = this.CONSUME(T.Break);
            return this.ACTION((): Stmt => ({ kind: 'break', loc: tokenLoc(kw) }));
          },
        },
        {
          ALT: () => {
            const kw = this.CONSUME(T.Continue);
            return this.ACTION((): Stmt => ({ kind: 'continue', loc: tokenLoc(kw) }));
          },
        },
        {
          ALT: () => {
            const lhs = this.SUBRULE2(this.expression);
            let op: IToken | undefined;
            let rhs: Expr | undefined;
            this.OPTION2(() => {
              op = this.CONSUME(T.AssignOp);
              rhs = this.SUBRULE3(this.expression);
            });
            return this.ACTION(() => this.statementFrom(lhs, op, rhs));
          },
        },
      ]),
    recoverStmt,
  );

  private statementFrom(lhs: Expr, op: IToken | undefined, rhs: Expr | undefined): Stmt {
    if (!op || !rhs) return expressionStatement(lhs);
    const operator = op.image === '=' ? '=' : op.image.slice(0, -1);
    const loc = span(lhs.loc, rhs.loc);
    if (lhs.kind === 'var') return { kind: 'assign', target: lhs, op: operator, value: rhs, loc };
    if (lhs.kind === 'map') return { kind: 'mapAssign', target: lhs, op: operator, value: rhs, loc };
    this.problem(lhs.loc, `cannot assign to this expression: only a variable ($name) or a map (@name[keys]) can be assigned with '${op.image}'`);
    return { kind: 'exprStmt', expr: lhs, loc };
  }

  public expression = this.RULE('expression', (): Expr => this.SUBRULE(this.ternary), recoverExpr);

  private ternary = this.RULE('ternary', (): Expr => {
    const cond = this.SUBRULE(this.logicalOr);
    let result = cond;
    this.OPTION(() => {
      this.CONSUME(T.Question);
      const then = this.SUBRULE(this.expression);
      this.CONSUME(T.Colon);
      const otherwise = this.SUBRULE(this.ternary);
      this.ACTION(() => {
        result = { kind: 'ternary', cond, then, else: otherwise, loc: span(cond.loc, otherwise.loc) };
      });
    });
    return result;
  }, recoverExpr);

  /** One left-associative precedence level: `next (op next)*`. */
  private binaryLevel(name: string, operator: TokenType, next: () => (idx?: number) => Expr) {
    return this.RULE(name, (): Expr => {
      let left = this.SUBRULE(next());
      this.MANY(() => {
        const op = this.CONSUME(operator);
        const right = this.SUBRULE2(next());
        this.ACTION(() => {
          left = { kind: 'binary', op: op.image, left, right, loc: span(left.loc, right.loc) };
        });
      });
      return left;
    }, recoverExpr);
  }

  private logicalOr = this.binaryLevel('logicalOr', T.OrOr, () => this.logicalAnd);
  private logicalAnd = this.binaryLevel('logicalAnd', T.AndAnd, () => this.bitOr);
  private bitOr = this.binaryLevel('bitOr', T.Pipe, () => this.bitXor);
  private bitXor = this.binaryLevel('bitXor', T.Caret, () => this.bitAnd);
  private bitAnd = this.binaryLevel('bitAnd', T.Amp, () => this.equality);
  private equality = this.binaryLevel('equality', T.EqualityOp, () => this.relational);
  private relational = this.binaryLevel('relational', T.RelationalOp, () => this.shift);
  private shift = this.binaryLevel('shift', T.ShiftOp, () => this.additive);
  private additive = this.binaryLevel('additive', T.AdditiveOp, () => this.multiplicative);
  private multiplicative = this.binaryLevel('multiplicative', T.MultiplicativeOp, () => this.unary);

  private unary = this.RULE('unary', (): Expr =>
    this.OR({
      IGNORE_AMBIGUITIES: true,
      DEF: [
        {
          ALT: () => {
            const op = this.OR2([
              { ALT: () => this.CONSUME(T.Bang) },
              { ALT: () => this.CONSUME(T.Tilde) },
              { ALT: () => this.CONSUME(T.Minus) },
              { ALT: () => this.CONSUME(T.Star) },
              { ALT: () => this.CONSUME(T.Amp) },
            ]);
            const operand = this.SUBRULE(this.unary);
            return this.ACTION((): Expr => ({ kind: 'unary', op: op.image, operand, loc: span(tokenLoc(op), operand.loc) }));
          },
        },
        {
          ALT: () => {
            const op = this.CONSUME(T.IncDecOp);
            const target = this.SUBRULE2(this.unary);
            return this.ACTION(() => this.incDec(op, target, true, span(tokenLoc(op), target.loc)));
          },
        },
        {
          GATE: () => this.castAhead(),
          ALT: () => {
            const open = this.CONSUME(T.LParen);
            const typeName = this.SUBRULE(this.typeName);
            this.CONSUME(T.RParen);
            const operand = this.SUBRULE3(this.unary);
            return this.ACTION((): Expr => ({ kind: 'cast', typeName, operand, loc: span(tokenLoc(open), operand.loc) }));
          },
        },
        { ALT: () => this.SUBRULE(this.postfix) },
      ],
    }),
    recoverExpr,
  );

  private incDec(op: IToken, target: Expr, prefix: boolean, loc: Loc): Expr {
    if (target.kind !== 'var' && target.kind !== 'map') {
      this.problem(target.loc, `'${op.image}' needs a variable ($name) or a map (@name[keys])`);
      return target;
    }
    return { kind: 'incdec', op: op.image as '++' | '--', prefix, target: target as VarRef | MapRef, loc };
  }

  /** After `(`: a type (`struct x *`, `uint32`, `name *`), or a plain name followed by an operand. */
  private castAhead(): boolean {
    const close = this.typeAhead(2);
    return close === true || (close !== false && matchesAny(this.LA(close + 1), operandStarts));
  }

  /**
   * Whether the tokens from LA(k) on are a type then `)`: true when they can only be one (a struct,
   * a pointer, a builtin type name), the index of the `)` when they are a plain name (a type or a
   * value), false otherwise.
   */
  private typeAhead(k: number): boolean | number {
    const first = this.LA(k);
    if (tokenMatcher(first, T.Struct) || tokenMatcher(first, T.Union) || tokenMatcher(first, T.Enum)) return true;
    if (!tokenMatcher(first, T.Ident)) return false;
    let i = k + 1;
    while (tokenMatcher(this.LA(i), T.Star)) i++;
    if (!tokenMatcher(this.LA(i), T.RParen)) return false;
    return i > k + 1 || castTypeNames.has(first.image) ? true : i;
  }

  private typeName = this.RULE('typeName', (): string => {
    const words: string[] = [];
    this.OPTION(() => {
      const kw = this.OR([
        { ALT: () => this.CONSUME(T.Struct) },
        { ALT: () => this.CONSUME(T.Union) },
        { ALT: () => this.CONSUME(T.Enum) },
      ]);
      words.push(kw.image);
    });
    const name = this.CONSUME(T.Ident);
    words.push(name.image);
    let stars = '';
    this.MANY(() => {
      this.CONSUME(T.Star);
      stars += '*';
    });
    return stars ? `${words.join(' ')} ${stars}` : words.join(' ');
  }, { recoveryValueFunc: () => 'int64' });

  private postfix = this.RULE('postfix', (): Expr => {
    // Member access and indexing span their operand as written, parentheses included (as bpftrace's
    // locations do: its -k reports name the column where the operand starts).
    const first = this.LA(1);
    let e = this.SUBRULE(this.primary);
    this.MANY(() => {
      this.OR([
        {
          ALT: () => {
            this.CONSUME(T.Dot);
            this.OR2([
              {
                ALT: () => {
                  const f = this.CONSUME(T.Word);
                  this.ACTION(() => {
                    e = { kind: 'field', object: e, field: f.image, arrow: false, loc: span(tokenLoc(first), tokenLoc(f)) };
                  });
                },
              },
              {
                ALT: () => {
                  const n = this.CONSUME(T.IntLit);
                  this.ACTION(() => {
                    if (e.kind === 'int') this.problem(span(e.loc, tokenLoc(n)), 'floating-point numbers are not supported: use an integer');
                    e = { kind: 'tupleIndex', object: e, index: this.tupleIndex(n), loc: span(tokenLoc(first), tokenLoc(n)) };
                  });
                },
              },
            ]);
          },
        },
        {
          ALT: () => {
            this.CONSUME(T.Arrow);
            const f = this.CONSUME2(T.Word);
            this.ACTION(() => {
              e = { kind: 'field', object: e, field: f.image, arrow: true, loc: span(tokenLoc(first), tokenLoc(f)) };
            });
          },
        },
        {
          ALT: () => {
            this.CONSUME(T.LBracket);
            const index = this.SUBRULE(this.expression);
            const close = this.CONSUME(T.RBracket);
            this.ACTION(() => {
              e = { kind: 'index', object: e, index, loc: span(tokenLoc(first), tokenLoc(close)) };
            });
          },
        },
        {
          ALT: () => {
            const op = this.CONSUME(T.IncDecOp);
            this.ACTION(() => {
              e = this.incDec(op, e, false, span(e.loc, tokenLoc(op)));
            });
          },
        },
      ]);
    });
    return e;
  }, recoverExpr);

  private tupleIndex(n: IToken): number {
    if (!/^[0-9]+$/.test(n.image) || n.image.length > 6) {
      this.problem(tokenLoc(n), `invalid tuple index '${n.image}'`, true);
      return 0;
    }
    return Number(n.image);
  }

  private primary = this.RULE(
    'primary',
    (): Expr =>
      this.OR([
        {
          ALT: () => {
            const t = this.CONSUME(T.IntLit);
            return this.ACTION(() => this.integer(t));
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(T.StringLit);
            return this.ACTION(() => this.string(t));
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(T.Variable);
            return this.ACTION((): Expr => ({ kind: 'var', name: t.image, loc: tokenLoc(t) }));
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(T.Positional);
            return this.ACTION((): Expr => ({ kind: 'positional', index: Number(t.image.slice(1)), loc: tokenLoc(t) }));
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(T.ArgCount);
            return this.ACTION((): Expr => ({ kind: 'argcount', loc: tokenLoc(t) }));
          },
        },
        { ALT: () => this.SUBRULE(this.mapRef) },
        { ALT: () => this.SUBRULE(this.nameOrCall) },
        { ALT: () => this.SUBRULE(this.parenOrTuple) },
      ]),
    recoverExpr,
  );

  private integer(t: IToken): Expr {
    const r = parseInteger(t.image);
    if ('error' in r) {
      this.problem(tokenLoc(t), r.error, true);
      return { kind: 'int', value: 0n, raw: t.image, loc: tokenLoc(t) };
    }
    return { kind: 'int', value: r.value, raw: t.image, loc: tokenLoc(t) };
  }

  private string(t: IToken): Expr {
    const { value, errors } = decodeString(t.image, t.tokenType === T.StringLit);
    for (const e of errors) {
      this.problem({ line: t.startLine ?? 0, col: (t.startColumn ?? 0) + e.offset, offset: t.startOffset + e.offset, length: e.length }, e.message, true);
    }
    return { kind: 'str', value, loc: tokenLoc(t) };
  }

  private mapRef = this.RULE('mapRef', (): Expr => {
    const t = this.CONSUME(T.MapName);
    const keys: Expr[] = [];
    let close: IToken | undefined;
    this.OPTION(() => {
      this.CONSUME(T.LBracket);
      this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => keys.push(this.SUBRULE(this.expression)) });
      close = this.CONSUME(T.RBracket);
    });
    return this.ACTION((): Expr => ({ kind: 'map', name: t.image, keys, loc: close ? span(tokenLoc(t), tokenLoc(close)) : tokenLoc(t) }));
  }, recoverExpr);

  private nameOrCall = this.RULE('nameOrCall', (): Expr => {
    const t = this.CONSUME(T.Ident);
    let args: Expr[] | undefined;
    let close: IToken | undefined;
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      args = [];
      this.OR({
        IGNORE_AMBIGUITIES: true,
        DEF: [
          {
            // sizeof() takes a type as well as a value.
            GATE: () => t.image === 'sizeof' && this.typeAhead(1) === true,
            ALT: () => {
              const first = this.LA(1);
              const typeName = this.SUBRULE(this.typeName);
              const end = this.LA(1);
              this.ACTION(() => {
                const loc = { ...tokenLoc(first), length: end.startOffset - first.startOffset };
                args!.push({ kind: 'typeRef', typeName, loc });
              });
            },
          },
          { ALT: () => this.MANY_SEP({ SEP: T.Comma, DEF: () => args!.push(this.SUBRULE(this.expression)) }) },
        ],
      });
      close = this.CONSUME(T.RParen);
    });
    return this.ACTION((): Expr =>
      args && close
        ? { kind: 'call', name: t.image, args, loc: span(tokenLoc(t), tokenLoc(close)) }
        : { kind: 'builtin', name: t.image, loc: tokenLoc(t) },
    );
  }, recoverExpr);

  private parenOrTuple = this.RULE('parenOrTuple', (): Expr => {
    const open = this.CONSUME(T.LParen);
    const elems: Expr[] = [];
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => elems.push(this.SUBRULE(this.expression)) });
    const close = this.CONSUME(T.RParen);
    return this.ACTION((): Expr =>
      elems.length === 1 ? elems[0]! : { kind: 'tuple', elems, loc: span(tokenLoc(open), tokenLoc(close)) },
    );
  }, recoverExpr);
}
