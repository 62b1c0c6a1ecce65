// grammar/lookahead-table.ts holds the parser's lookahead sequences, computed ahead of time: it must be
// what chevrotain computes from the grammar as it is now.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatLookaheadTable, recordingLookahead, tabledLookahead, type LookaheadTable } from '../../grammar/lookahead.js';
import { LOOKAHEAD_TABLE } from '../../grammar/lookahead-table.js';
import { ParserMessages } from '../../grammar/messages.js';
import { KtParser, MAX_LOOKAHEAD } from '../../grammar/parser.js';
import { tokenize } from '../../grammar/lexer.js';
import { allTokens } from '../../grammar/tokens.js';
import { root } from './parser-helpers.js';

describe('the precomputed lookahead table', () => {
  it('is what chevrotain computes from the grammar (regenerate: npm run build && node scripts/gen-lookahead.mjs)', () => {
    const computed: LookaheadTable = {};
    new KtParser(new ParserMessages(), false, recordingLookahead(computed, MAX_LOOKAHEAD));
    expect(Object.keys(computed).length).toBeGreaterThan(20);
    expect(LOOKAHEAD_TABLE).toEqual(computed);
    expect(readFileSync(join(root, 'grammar', 'lookahead-table.ts'), 'utf8')).toBe(formatLookaheadTable(computed));
  });

  it('falls back to chevrotain for a production it lacks or names an unknown token in, parsing alike', () => {
    const keys = Object.keys(LOOKAHEAD_TABLE);
    const partial: LookaheadTable = Object.fromEntries(keys.slice(1).map((k) => [k, LOOKAHEAD_TABLE[k]!]));
    partial[keys[1]!] = [[['NoSuchToken']]];
    const parsers = [new KtParser(new ParserMessages()), new KtParser(new ParserMessages(), false, tabledLookahead(partial, allTokens, MAX_LOOKAHEAD))];
    const source = 'kprobe:f /pid == 1 && (comm != "x" || $1 > 2)/ { @a[tid, 1 + 2 * 3] = count(); $x = @a[1, 2] << 2 | 1 & 3 ^ 4; if ($x) { printf("%d", $x); } else { $y--; } }';
    const asts = parsers.map((p) => {
      p.begin(tokenize(source).tokens);
      const probe = p.probe();
      expect(p.errors).toEqual([]);
      return JSON.stringify(probe, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    });
    expect(asts[1]).toBe(asts[0]);
  });
});
