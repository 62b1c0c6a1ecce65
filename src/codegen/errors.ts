// Errors of the code generation stage.
import { KtError } from '../errors.js';
import type { Loc } from '../frontend/ast.js';

/** A construct the code generator cannot compile for the kernel: reported as a diagnostic. */
export class CodegenError extends KtError {
  override name = 'CodegenError';
  constructor(
    message: string,
    readonly loc: Loc,
  ) {
    super('unsupported-construct', message);
  }
}
