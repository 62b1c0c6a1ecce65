// The parser's lookahead from a table computed ahead of time (lookahead-table.ts). chevrotain works out
// the token sequences that choose each alternative and optional production when the parser is built,
// a good part of a first compile's start-up; the sequences depend only on the grammar, so they are
// computed once, by `node scripts/gen-lookahead.mjs`, and test/unit/lookahead-table.test.ts fails when
// the table and the grammar disagree. A production the table lacks is computed as chevrotain would.
import {
  getLookaheadPaths,
  LLkLookaheadStrategy,
  tokenMatcher,
  type ILookaheadStrategy,
  type IOrAlt,
  type IToken,
  type LookaheadProductionType,
  type LookaheadSequence,
  type Rule,
  type TokenType,
} from 'chevrotain';

/** Token sequences per production, by token name: `table[key][alternative][sequence][position]`. */
export type LookaheadTable = Record<string, string[][][]>;

/** The table's key of one production. */
function productionKey(rule: string, type: LookaheadProductionType, occurrence: number, maxLookahead: number): string {
  return `${rule} ${type} ${occurrence} k=${maxLookahead}`;
}

interface Lookahead {
  LA(howMuch: number): IToken;
}

function sequenceMatches(parser: Lookahead, sequence: TokenType[]): boolean {
  for (let i = 0; i < sequence.length; i++) if (!tokenMatcher(parser.LA(i + 1), sequence[i]!)) return false;
  return true;
}

/** chevrotain's choice among alternatives: the first whose gate allows it and one of whose sequences comes next. */
function alternationLookahead(alternatives: LookaheadSequence[], hasPredicates: boolean) {
  return function (this: Lookahead, orAlts?: IOrAlt<unknown>[]): number | undefined {
    for (let alt = 0; alt < alternatives.length; alt++) {
      const gate = hasPredicates ? orAlts?.[alt]?.GATE : undefined;
      if (gate !== undefined && gate.call(this) === false) continue;
      for (const sequence of alternatives[alt]!) if (sequenceMatches(this, sequence)) return alt;
    }
    return undefined;
  };
}

function optionalLookahead(sequences: LookaheadSequence) {
  return function (this: Lookahead): boolean {
    for (const sequence of sequences) if (sequenceMatches(this, sequence)) return true;
    return false;
  };
}

type AlternationOptions = Parameters<ILookaheadStrategy['buildLookaheadForAlternation']>[0];
type OptionalOptions = Parameters<ILookaheadStrategy['buildLookaheadForOptional']>[0];

/** LL(k) lookahead whose token sequences come from `sequencesOf` (a table, or chevrotain's analysis). */
class SequenceLookahead extends LLkLookaheadStrategy {
  constructor(
    maxLookahead: number,
    private readonly sequencesOf: (rule: Rule, type: LookaheadProductionType, occurrence: number, maxLookahead: number) => LookaheadSequence[],
  ) {
    super({ maxLookahead });
  }

  override buildLookaheadForAlternation(options: AlternationOptions): (orAlts?: IOrAlt<unknown>[]) => number | undefined {
    const sequences = this.sequencesOf(options.rule, 'Alternation', options.prodOccurrence, options.maxLookahead);
    return alternationLookahead(sequences, options.hasPredicates);
  }

  override buildLookaheadForOptional(options: OptionalOptions): () => boolean {
    const sequences = this.sequencesOf(options.rule, options.prodType, options.prodOccurrence, options.maxLookahead);
    return optionalLookahead(sequences[0] ?? []);
  }
}

const computed = (rule: Rule, prodType: LookaheadProductionType, occurrence: number, maxLookahead: number): LookaheadSequence[] =>
  getLookaheadPaths({ rule, prodType, occurrence, maxLookahead });

/** Lookahead from `table`, token names resolved among `tokens`. */
export function tabledLookahead(table: LookaheadTable, tokens: readonly TokenType[], maxLookahead: number): ILookaheadStrategy {
  const byName = new Map(tokens.map((t) => [t.name, t]));
  const resolve = (names: string[][][]): LookaheadSequence[] | undefined => {
    const out: LookaheadSequence[] = [];
    for (const alt of names) {
      const sequences: TokenType[][] = [];
      for (const seq of alt) {
        const types = seq.map((n) => byName.get(n));
        if (types.some((t) => t === undefined)) return undefined;
        sequences.push(types as TokenType[]);
      }
      out.push(sequences);
    }
    return out;
  };
  return new SequenceLookahead(maxLookahead, (rule, type, occurrence, k) => {
    const names = table[productionKey(rule.name, type, occurrence, k)];
    return (names && resolve(names)) ?? computed(rule, type, occurrence, k);
  });
}

/**
 * Lookahead computed by chevrotain, every production's sequences written into `into` by token name:
 * what scripts/gen-lookahead.mjs writes out, and what the test compares the table with.
 */
export function recordingLookahead(into: LookaheadTable, maxLookahead: number): ILookaheadStrategy {
  return new SequenceLookahead(maxLookahead, (rule, type, occurrence, k) => {
    const sequences = computed(rule, type, occurrence, k);
    into[productionKey(rule.name, type, occurrence, k)] = sequences.map((alt) => alt.map((seq) => seq.map((t) => t.name)));
    return sequences;
  });
}

/** The source of grammar/lookahead-table.ts holding `table`, a production per line, in key order. */
export function formatLookaheadTable(table: LookaheadTable): string {
  const lines = Object.keys(table)
    .sort()
    .map((k) => `  ${JSON.stringify(k)}: ${JSON.stringify(table[k])},`);
  return [
    '// Generated by scripts/gen-lookahead.mjs from the grammar (see grammar/lookahead.ts); do not edit.',
    "import type { LookaheadTable } from './lookahead.js';",
    '',
    'export const LOOKAHEAD_TABLE: LookaheadTable = {',
    ...lines,
    '};',
    '',
  ].join('\n');
}
