#!/usr/bin/env node
// kafkatrace's command. It loads the bundle (CommonJS) through V8's code cache: compiling the
// bundle's JavaScript is a good part of a cached script's start-up, and node 20 keeps no compiled
// code between runs by itself. A chunk's cache lives in $XDG_CACHE_HOME/kafkatrace/v8 (else
// ~/.cache/kafkatrace/v8), named after the chunk's file, size and mtime and node's version, so a
// rebuild or another node never reads it (V8 checks its own version and flags too, but of the
// source only its length). A missing or rejected cache is written when the process exits, with the
// functions that run compiled.
// CommonJS (bin/package.json says so): an ES module entry would start node's ES module loader, which
// costs milliseconds before the first line runs.
'use strict';
const Module = require('node:module');
const { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { homedir } = require('node:os');
const { basename, dirname, join } = require('node:path');
const { Script } = require('node:vm');

const BUNDLE = join(__dirname, '..', 'dist', 'bundle');
// One directory per installed bundle, so that pruning one never touches another's.
const CACHE = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kafkatrace', 'v8', encodeURIComponent(BUNDLE));
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
  let cachedData;
  try {
    cachedData = readFileSync(file);
  } catch {
    // Not cached yet: compiled from source, and cached at exit.
  }
  const script = new Script(Module.wrap(content), { filename, cachedData });
  if (writes && (cachedData === undefined || script.cachedDataRejected)) unsaved.push({ file, script });
  const require = (id) => this.require(id);
  require.resolve = (request, options) => Module._resolveFilename(request, this, false, options);
  require.cache = Module._cache;
  return script.runInThisContext().call(this.exports, this.exports, require, this, filename, dirname(filename));
};

process.on('exit', () => {
  if (unsaved.length === 0) return;
  try {
    mkdirSync(CACHE, { recursive: true });
    for (const { file, script } of unsaved) {
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, file);
    }
    prune();
  } catch {
    // A read-only or full cache directory costs the next run its compile, nothing more.
  }
});

const { main } = require('../dist/bundle/kafkatrace.cjs');
main(args).then((code) => {
  process.exitCode = code;
});
