// The AST is the parser's output, so its types live beside the parser (grammar/ast.ts); the front end
// and the stages after it read them from here.
export type * from '../../grammar/ast.js';
