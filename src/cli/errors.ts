// The errors that are the user's or the machine's, not kafkatrace's: they print as one line.
import { NativeUnavailableError, isNativeError } from '../native/index.js';
import { SessionError } from '../runtime/session.js';
import { KafkaCatalogueError } from '../frontend/kafka-catalogue.js';
import { CCompileError, ToolchainError } from '../codegen/clang.js';
import { OutputError } from './sink.js';

/** A script with errors: the rendered diagnostics are the whole message. */
export class ScriptError extends Error {}

export function userFacingMessage(e: unknown): string | undefined {
  if (e instanceof OutputError || e instanceof SessionError || e instanceof NativeUnavailableError || e instanceof KafkaCatalogueError || e instanceof ToolchainError || e instanceof CCompileError) {
    return e.message;
  }
  if (isNativeError(e)) return e.message;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'ENOENT' || code === 'EEXIST' || code === 'ENOTDIR') return (e as Error).message;
  return undefined;
}
