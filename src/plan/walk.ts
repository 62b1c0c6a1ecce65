// A generic walk over statements and expressions, in source order, shared by the plan (which
// numbers events) and the code generator (which must find the same events in the same order).
import type { Expr, Stmt } from '../frontend/ast.js';

interface Visitor {
  expr?: (e: Expr) => void;
  stmt?: (s: Stmt) => void;
}

export function walkStmts(stmts: Stmt[], v: Visitor): void {
  for (const s of stmts) walkStmt(s, v);
}

function walkStmt(s: Stmt, v: Visitor): void {
  v.stmt?.(s);
  switch (s.kind) {
    case 'exprStmt':
      walkExpr(s.expr, v);
      break;
    case 'assign':
      walkExpr(s.target, v);
      walkExpr(s.value, v);
      break;
    case 'mapAssign':
      walkExpr(s.target, v);
      walkExpr(s.value, v);
      break;
    case 'if':
      walkExpr(s.cond, v);
      walkStmts(s.then, v);
      if (s.else) walkStmts(s.else, v);
      break;
    case 'while':
      walkExpr(s.cond, v);
      walkStmts(s.body, v);
      break;
    case 'unroll':
      walkExpr(s.count, v);
      walkStmts(s.body, v);
      break;
    case 'for':
      walkExpr(s.variable, v);
      walkExpr(s.map, v);
      walkStmts(s.body, v);
      break;
    case 'return':
      if (s.value) walkExpr(s.value, v);
      break;
    case 'block':
      walkStmts(s.body, v);
      break;
    case 'break':
    case 'continue':
      break;
  }
}

export function walkExpr(e: Expr, v: Visitor): void {
  v.expr?.(e);
  for (const child of exprChildren(e)) walkExpr(child, v);
}

function exprChildren(e: Expr): Expr[] {
  switch (e.kind) {
    case 'map':
      return e.keys;
    case 'call':
      return e.args;
    case 'binary':
      return [e.left, e.right];
    case 'unary':
      return [e.operand];
    case 'incdec':
      return [e.target];
    case 'ternary':
      return [e.cond, e.then, e.else];
    case 'field':
    case 'tupleIndex':
      return [e.object];
    case 'tuple':
      return e.elems;
    case 'index':
      return [e.object, e.index];
    case 'cast':
      return [e.operand];
    default:
      return [];
  }
}

/** Whether any expression under `stmts` (or the predicate) satisfies `test`. */
export function someExpr(stmts: Stmt[], predicate: Expr | undefined, test: (e: Expr) => boolean): boolean {
  let found = false;
  const v: Visitor = { expr: (e) => { if (test(e)) found = true; } };
  if (predicate) walkExpr(predicate, v);
  walkStmts(stmts, v);
  return found;
}
