#!/usr/bin/env node
// Writes grammar/lookahead-table.ts: the parser's lookahead token sequences, computed by chevrotain
// from the grammar, so that building the parser at start-up does not compute them (grammar/lookahead.ts).
// Run after changing grammar/parser.ts or grammar/tokens.ts, on a build (npm run build):
//   node scripts/gen-lookahead.mjs
// test/unit/lookahead-table.test.ts fails while the table is stale.
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (f) => import(pathToFileURL(join(ROOT, 'dist', 'grammar', f)).href);
const [{ recordingLookahead, formatLookaheadTable }, { KtParser, MAX_LOOKAHEAD }, { ParserMessages }] = await Promise.all([
  dist('lookahead.js'),
  dist('parser.js'),
  dist('messages.js'),
]);
const table = {};
new KtParser(new ParserMessages(), false, recordingLookahead(table, MAX_LOOKAHEAD));
const out = join(ROOT, 'grammar', 'lookahead-table.ts');
writeFileSync(out, formatLookaheadTable(table));
process.stdout.write(`wrote ${out} (${Object.keys(table).length} productions)\n`);
