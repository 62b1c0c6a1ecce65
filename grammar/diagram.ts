// The grammar's railroad diagram, generated from the parser itself so it never drifts from it.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSyntaxDiagramsCode } from 'chevrotain';
import { ParserMessages } from './messages.js';
import { KtParser } from './parser.js';

/**
 * An HTML page drawing every rule of the grammar. Its scripts come from the installed chevrotain
 * package (file: URLs), so the page works without network access on this machine.
 */
export function grammarDiagramHtml(): string {
  const require = createRequire(import.meta.url);
  const chevrotainRoot = dirname(dirname(dirname(require.resolve('chevrotain'))));
  const base = pathToFileURL(`${chevrotainRoot}/diagrams/`).href;
  const parser = new KtParser(new ParserMessages());
  return createSyntaxDiagramsCode(parser.getSerializedGastProductions(), { resourceBase: base, css: `${base}diagrams.css` });
}
