// `kafkatrace -d ast`: the AST as an indented tree, one node per line, children one space deeper,
// in the manner of bpftrace's `-d` output. Types are shown after `::` once analysis has set them.
import type { Expr, Script, Stmt } from './ast.js';
import { typeName } from './types.js';

export function formatAst(script: Script): string {
  const out: string[] = ['Program'];
  for (const item of script.preamble) out.push(` preamble: ${item.text.replace(/\n/g, '\\n')}`);
  for (const probe of script.probes) {
    for (const a of probe.attach) out.push(` ${a.raw}`);
    if (probe.predicate) {
      out.push('  pred');
      expr(out, probe.predicate, 3);
    }
    stmts(out, probe.body, 2);
  }
  return out.join('\n');
}


/** A string literal shown with its escapes, as written in a script. */
function quote(s: string): string {
  let r = '';
  for (const c of s) {
    const code = c.charCodeAt(0);
    if (c === '\n') r += '\\n';
    else if (c === '\t') r += '\\t';
    else if (c === '\r') r += '\\r';
    else if (c === '"') r += '\\"';
    else if (c === '\\') r += '\\\\';
    else if (code < 0x20 || code === 0x7f) r += `\\x${code.toString(16).padStart(2, '0')}`;
    else r += c;
  }
  return r;
}

function line(out: string[], depth: number, text: string): void {
  out.push(' '.repeat(depth) + text);
}

function stmts(out: string[], list: Stmt[], depth: number): void {
  for (const s of list) stmt(out, s, depth);
}

function stmt(out: string[], s: Stmt, depth: number): void {
  switch (s.kind) {
    case 'exprStmt':
      expr(out, s.expr, depth);
      return;
    case 'assign':
    case 'mapAssign':
      line(out, depth, s.op === '=' ? '=' : `${s.op}=`);
      expr(out, s.target, depth + 1);
      expr(out, s.value, depth + 1);
      return;
    case 'if':
      line(out, depth, 'if');
      expr(out, s.cond, depth + 1);
      line(out, depth + 1, 'then');
      stmts(out, s.then, depth + 2);
      if (s.else) {
        line(out, depth + 1, 'else');
        stmts(out, s.else, depth + 2);
      }
      return;
    case 'while':
      line(out, depth, 'while');
      expr(out, s.cond, depth + 1);
      line(out, depth + 1, 'do');
      stmts(out, s.body, depth + 2);
      return;
    case 'unroll':
      line(out, depth, 'unroll');
      expr(out, s.count, depth + 1);
      line(out, depth + 1, 'do');
      stmts(out, s.body, depth + 2);
      return;
    case 'for':
      line(out, depth, 'for');
      expr(out, s.variable, depth + 1);
      expr(out, s.map, depth + 1);
      line(out, depth + 1, 'do');
      stmts(out, s.body, depth + 2);
      return;
    case 'return':
      line(out, depth, 'return');
      if (s.value) expr(out, s.value, depth + 1);
      return;
    case 'break':
    case 'continue':
      line(out, depth, s.kind);
      return;
    case 'block':
      line(out, depth, 'block');
      stmts(out, s.body, depth + 1);
      return;
  }
}

function expr(out: string[], e: Expr, depth: number): void {
  const typed = (text: string) => line(out, depth, e.type ? `${text} :: ${typeName(e.type)}` : text);
  switch (e.kind) {
    case 'int':
      typed(`int: ${e.value}`);
      return;
    case 'str':
      typed(`string: ${quote(e.value)}`);
      return;
    case 'var':
      typed(`variable: ${e.name}`);
      return;
    case 'map':
      typed(`map: ${e.name}`);
      for (const k of e.keys) expr(out, k, depth + 1);
      return;
    case 'builtin':
      typed(`builtin: ${e.name}`);
      return;
    case 'positional':
      typed(`param: $${e.index}`);
      return;
    case 'argcount':
      typed('param: $#');
      return;
    case 'call':
      typed(`call: ${e.name}`);
      for (const a of e.args) expr(out, a, depth + 1);
      return;
    case 'binary':
      typed(e.op);
      expr(out, e.left, depth + 1);
      expr(out, e.right, depth + 1);
      return;
    case 'unary':
      typed(e.op === '*' ? 'dereference' : e.op === '&' ? 'address-of' : e.op);
      expr(out, e.operand, depth + 1);
      return;
    case 'incdec':
      typed(`${e.op} (${e.prefix ? 'prefix' : 'postfix'})`);
      expr(out, e.target, depth + 1);
      return;
    case 'ternary':
      typed('?:');
      expr(out, e.cond, depth + 1);
      expr(out, e.then, depth + 1);
      expr(out, e.else, depth + 1);
      return;
    case 'field':
      typed(e.arrow ? '->' : '.');
      expr(out, e.object, depth + 1);
      line(out, depth + 1, e.field);
      return;
    case 'tupleIndex':
      typed('.');
      expr(out, e.object, depth + 1);
      line(out, depth + 1, String(e.index));
      return;
    case 'tuple':
      typed('tuple:');
      for (const el of e.elems) expr(out, el, depth + 1);
      return;
    case 'index':
      typed('[]');
      expr(out, e.object, depth + 1);
      expr(out, e.index, depth + 1);
      return;
    case 'cast':
      typed(`(${e.typeName})`);
      expr(out, e.operand, depth + 1);
      return;
    case 'typeRef':
      typed(e.typeName);
      return;
  }
}
