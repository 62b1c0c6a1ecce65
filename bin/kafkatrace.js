#!/usr/bin/env node
// kafkatrace's command. It loads the bundle (CommonJS) through V8's code cache: compiling the
// bundle's JavaScript is a good part of a cached script's start-up, and node 20 keeps no compiled
// code between runs by itself. A chunk's cache lives in $XDG_CACHE_HOME/kafkatrace/v8 (else
// ~/.cache/kafkatrace/v8), named after the chunk's file, size and mtime and node's version, so a
// rebuild or another node never reads it (V8 checks its own version and flags too, but of the
// source only its length). A missing or rejected cache is written when the process exits, with the
// functions that run compiled. V8 runs what the cache holds, so it is used only where no other user
// could have written it, by src/cache-dir.ts's rule: every directory on its real path root's or the
// running user's and writable by nobody else (sticky ones aside), the cache's own directories and its
// files the running user's.
// CommonJS (bin/package.json says so): an ES module entry would start node's ES module loader, which
// costs milliseconds before the first line runs.
'use strict';
// Ctrl-C ends kafkatrace with status 0 whenever it comes, as it ends bpftrace. A run installs its own
// handler as it starts (src/cli/trace.ts); until then, and for a command without one, this one ends the
// process (while the bundle loads there is nothing to undo yet). It stays installed: node stops watching
// a signal when its last listener goes, and drops one caught but not yet handed to JavaScript, which
// left a run tracing after its Ctrl-C.
process.on('SIGINT', () => {
  if (process.listenerCount('SIGINT') === 1) process.exit(0);
});
const Module = require('node:module');
const { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { homedir } = require('node:os');
const { basename, dirname, join } = require('node:path');
const { Script } = require('node:vm');

const BUNDLE = join(__dirname, '..', 'dist', 'bundle');
const BASE = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kafkatrace');
// One directory per installed bundle, so that pruning one never touches another's.
const CACHE = join(BASE, 'v8', encodeURIComponent(BUNDLE));
const UID = process.geteuid();

/** Whether the cache directory exists and no other user could have written in it (see above). */
function trustedCache() {
  let real;
  let own;
  try {
    real = realpathSync(CACHE);
    own = realpathSync(BASE);
  } catch {
    return false;
  }
  const parts = real.split('/').filter((p) => p !== '');
  for (let i = 0; i <= parts.length; i++) {
    const at = '/' + parts.slice(0, i).join('/');
    const s = lstatSync(at, { throwIfNoEntry: false });
    const mine = at.length >= own.length && at.startsWith(own);
    if (!s || !s.isDirectory() || (mine ? s.uid !== UID : s.uid !== UID && s.uid !== 0)) return false;
    if ((s.mode & 0o022) !== 0 && (mine || (s.mode & 0o1000) === 0)) return false;
  }
  return true;
}

/** A cache file's contents when it is the running user's and nobody else can write it, checked once open. */
function readTrusted(file) {
  let fd;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const s = fstatSync(fd);
    return s.isFile() && s.uid === UID && (s.mode & 0o022) === 0 ? readFileSync(fd) : undefined;
  } finally {
    closeSync(fd);
  }
}

let trusted;
const args = process.argv.slice(2);
// --help and --version compile next to nothing: a cache they wrote would lack what a script run needs.
const writes = !args.some((a) => a === '--help' || a === '-h' || a === '--version' || a === '-V');
const unsaved = [];

function cacheName(chunk) {
  const s = statSync(join(BUNDLE, chunk));
  return `${chunk}.${s.size}.${Math.trunc(s.mtimeMs)}.${process.version}.${process.arch}`;
}

/** Removes the caches of chunks that are gone or were rebuilt, and leftovers of interrupted writes. */
function prune() {
  for (const f of readdirSync(CACHE)) {
    const chunk = f.slice(0, f.indexOf('.cjs.') + 4);
    let current;
    try {
      current = cacheName(chunk);
    } catch {
      current = undefined;
    }
    if (f !== current) rmSync(join(CACHE, f), { force: true });
  }
}

const compile = Module.prototype._compile;
Module.prototype._compile = function (content, filename) {
  if (dirname(filename) !== BUNDLE) return compile.call(this, content, filename);
  const file = join(CACHE, cacheName(basename(filename)));
  trusted ??= trustedCache();
  // Not cached yet (or not trusted): compiled from source, and cached at exit.
  const cachedData = trusted ? readTrusted(file) : undefined;
  const script = new Script(Module.wrap(content), { filename, cachedData });
  if (writes && (cachedData === undefined || script.cachedDataRejected)) unsaved.push({ file, script });
  const require = (id) => this.require(id);
  require.resolve = (request, options) => Module._resolveFilename(request, this, false, options);
  require.cache = Module._cache;
  return script.runInThisContext().call(this.exports, this.exports, require, this, filename, dirname(filename));
};

process.on('exit', () => {
  if (unsaved.length === 0) return;
  let tmp;
  try {
    mkdirSync(CACHE, { recursive: true, mode: 0o700 });
    if (!trustedCache()) return;
    for (const { file, script } of unsaved) {
      tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData(), { flag: 'wx', mode: 0o644 });
      renameSync(tmp, file);
    }
    prune();
  } catch {
    // A read-only or full cache directory costs the next run its compile, nothing more.
    if (tmp) rmSync(tmp, { force: true });
  }
});

const { main } = require('../dist/bundle/kafkatrace.cjs');
main(args).then((code) => {
  process.exitCode = code;
});
