// Errors of the code generation stage.
import type { Loc } from '../frontend/ast.js';

/** A construct the code generator cannot compile for the kernel: reported as a diagnostic. */
export class CodegenError extends Error {
  override name = 'CodegenError';
  constructor(
    message: string,
    readonly loc: Loc,
  ) {
    super(message);
  }
}
