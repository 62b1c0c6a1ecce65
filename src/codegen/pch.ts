// A precompiled header of bpf-templates/kt_system.h, the system headers every generated program
// includes: clang then loads them instead of parsing them, some 10-15 ms of every first compile.
// It is built once, after the build (`npm run build` runs scripts/build-pch.mjs), into build/, with a
// note of what it was built from; a run uses it only while that note still holds (same clang, same
// header, same flags). clang itself refuses it when a system header changed since, and compileC then
// compiles without it. clang loads it by path, so it is used only where another user could not have
// put it: every directory above it and the files themselves root's or the running user's, writable
// by nobody else.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { untrustedDirectory } from '../cache-dir.js';
import { packageRoot } from '../package-root.js';

const SYSTEM_HEADER = 'kt_system.h';

export function pchPath(): string {
  return join(packageRoot(), 'build', 'kt_system.pch');
}

/** What the header must have been built from to be used: clang, the header's text and the flags. */
function pchIdentity(templates: string, clang: string, flags: string[]): string {
  const header = createHash('sha256').update(readFileSync(join(templates, SYSTEM_HEADER))).digest('hex');
  return JSON.stringify({ clang, header, flags });
}

let refused = false;
let trusted: boolean | undefined;

/** Whether no other user (than root) could have written the header or its note. */
function trustedPch(pch: string): boolean {
  if (trusted !== undefined) return trusted;
  const uid = process.geteuid?.() ?? 0;
  const ours = (path: string): boolean => {
    const s = lstatSync(path);
    return s.isFile() && (s.uid === uid || s.uid === 0) && (s.mode & 0o022) === 0;
  };
  try {
    trusted = untrustedDirectory(realpathSync(dirname(pch))) === undefined && ours(pch) && ours(`${pch}.id`);
  } catch {
    trusted = false;
  }
  return trusted;
}

/** clang refused the header (a system header changed since it was built): not used again by this process. */
export function refusePch(): void {
  refused = true;
}

/**
 * The arguments that make clang load the precompiled header: none when there is none, or when it was
 * built from another clang, header or flags. `flags` are the compile's other options.
 */
export function pchArgs(templates: string, clang: string, flags: string[]): string[] {
  if (refused) return [];
  const pch = pchPath();
  if (!trustedPch(pch)) return [];
  try {
    if (readFileSync(`${pch}.id`, 'utf8') !== pchIdentity(templates, clang, flags)) return [];
  } catch {
    return [];
  }
  return ['-include-pch', pch];
}

/** Builds the precompiled header; the error clang gave, or undefined when it was built. */
export function buildPch(templates: string, clang: string, clangBinary: string, flags: string[]): string | undefined {
  const pch = pchPath();
  mkdirSync(dirname(pch), { recursive: true });
  const tmp = `${pch}.${process.pid}.tmp`;
  const r = spawnSync(clangBinary, [...flags, '-x', 'c-header', join(templates, SYSTEM_HEADER), '-o', tmp], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    return (r.stderr || r.error?.message || 'clang failed').trim();
  }
  // Without its note while it changes, the header is never used half-written or with another's note.
  rmSync(`${pch}.id`, { force: true });
  renameSync(tmp, pch);
  writeFileSync(`${pch}.id`, pchIdentity(templates, clang, flags));
  return undefined;
}
