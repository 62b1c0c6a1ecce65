// The chevrotain lexer over the token modes of tokens.ts, built once per process on first use.
import { Lexer, type ILexingResult } from 'chevrotain';
import { lexerDefinition } from './tokens.js';

let lexer: Lexer | undefined;

export function tokenize(source: string): ILexingResult {
  lexer ??= new Lexer(lexerDefinition, {
    positionTracking: 'full',
    ensureOptimizations: false,
    // The definitions are checked by the unit tests (see validateLexer); skipping the checks here
    // keeps start-up fast.
    skipValidations: true,
  });
  return lexer.tokenize(source);
}

/** Builds a lexer with chevrotain's validations on, returning what they find (for tests). */
export function validateLexer(): string[] {
  const checked = new Lexer(lexerDefinition, { positionTracking: 'full', deferDefinitionErrorsHandling: true });
  return checked.lexerDefinitionErrors.map((e) => e.message);
}
