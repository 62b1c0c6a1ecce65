// kafkatrace's cache ($XDG_CACHE_HOME/kafkatrace, else ~/.cache/kafkatrace) holds what it runs:
// plans, BPF objects, V8 code. kafkatrace usually runs as root, often with a user's environment
// (sudo -E, su without -), so it trusts a cache directory only as ssh trusts ~/.ssh: every directory
// on its real path belongs to root or the running user and nobody else can write it (a sticky
// directory such as /tmp aside: nobody can rename what another put there), and the cache's own
// directories belong to the running user. A file is trusted once open: fstat of the descriptor says it
// is a regular file of the running user's that nobody else can write. A cache that fails this, or
// cannot be created, is not used (said once on stderr); compiling then happens in a private
// temporary directory (privateDir), removed afterwards.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readSync, realpathSync, rmSync, type Stats } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { writableBy } from './trusted-file.js';

/** Where the cache is named to be; whether it may be used is trustedCacheDir's to say. */
export function cacheBase(env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  return join(env['XDG_CACHE_HOME'] || join(home, '.cache'), 'kafkatrace');
}

/** The sticky bit (S_ISVTX), which node's fs.constants lacks. */
const STICKY = 0o1000;

function euid(): number {
  return process.geteuid?.() ?? 0;
}

/** Why a directory found at `path` cannot be trusted, or undefined; `own`: it must be the user's. */
function directoryProblem(path: string, s: Stats, own: boolean): string | undefined {
  if (!s.isDirectory()) return `${path} is not a directory`;
  const uid = euid();
  if (own ? s.uid !== uid : s.uid !== uid && s.uid !== 0) {
    return `${path} belongs to uid ${s.uid}, not to ${own ? '' : 'root or '}uid ${uid}`;
  }
  if ((s.mode & 0o022) !== 0 && !(!own && (s.mode & STICKY) !== 0)) {
    return `${path} is ${writableBy(s)}`;
  }
  return undefined;
}

/**
 * Why the directory `path` (its real path; no symbolic link is followed while checking) cannot be
 * trusted, or undefined. `ownFrom` is the first of its ancestors that must be the running user's
 * (not only root's or the user's); none when absent.
 */
export function untrustedDirectory(path: string, ownFrom?: string): string | undefined {
  const parts = path.split(sep).filter((p) => p !== '');
  let at = '';
  for (let i = 0; i <= parts.length; i++) {
    at = i === 0 ? sep : join(at, parts[i - 1]!);
    let s: Stats;
    try {
      s = lstatSync(at);
    } catch (e) {
      return `cannot read ${at}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
    }
    const problem = directoryProblem(at, s, ownFrom !== undefined && at.length >= ownFrom.length && at.startsWith(ownFrom));
    if (problem) return problem;
  }
  return undefined;
}

const trusted = new Map<string, { path?: string; why?: string }>();

/**
 * The real path of the cache directory `sub` (created, mode 0700, when missing), when it can be
 * trusted; else undefined, after saying why on stderr (once per process).
 */
export function trustedCacheDir(sub = '', base = cacheBase()): string | undefined {
  const wanted = join(base, sub);
  let known = trusted.get(wanted);
  if (!known) {
    known = checkCacheDir(base, wanted);
    trusted.set(wanted, known);
    if (known.why) warnOnce(`kafkatrace: not using the cache: ${known.why}; compiling without it\n`);
  }
  return known.path;
}

function checkCacheDir(base: string, wanted: string): { path?: string; why?: string } {
  let real: string;
  let realBase: string;
  try {
    mkdirSync(wanted, { recursive: true, mode: 0o700 });
    real = realpathSync(wanted);
    realBase = realpathSync(base);
  } catch (e) {
    return { why: `cannot create ${wanted}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
  const why = untrustedDirectory(real, realBase);
  return why ? { why } : { path: real };
}

let warned = false;

function warnOnce(message: string): void {
  if (warned) return;
  warned = true;
  process.stderr.write(message);
}

/** Why an open file cannot be trusted, or undefined. */
function untrustedFile(fd: number, path: string): string | undefined {
  const s = fstatSync(fd);
  if (!s.isFile()) return `${path} is not a regular file`;
  if (s.uid !== euid()) return `${path} belongs to uid ${s.uid}, not to uid ${euid()}`;
  if ((s.mode & 0o022) !== 0) return `${path} is ${writableBy(s)}`;
  return undefined;
}

/**
 * The contents of a cache file, checked on its open descriptor (no symbolic link followed); undefined
 * when it is missing or cannot be trusted (the latter said once on stderr).
 */
export function readTrusted(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const why = untrustedFile(fd, path);
    if (why) {
      warnOnce(`kafkatrace: not using the cache entry ${path}: ${why}\n`);
      return undefined;
    }
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * A new directory only this process uses (mode 0700), in the temporary directory when that can be
 * trusted, else in /tmp; `done` removes it.
 */
export function privateDir(): { path: string; done: () => void } {
  let parent = '/tmp';
  try {
    const t = realpathSync(tmpdir());
    if (untrustedDirectory(t) === undefined) parent = t;
  } catch {
    // /tmp it is.
  }
  const path = mkdtempSync(join(parent, 'kafkatrace-'));
  return { path, done: () => rmSync(path, { recursive: true, force: true }) };
}
