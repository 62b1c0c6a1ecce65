#!/usr/bin/env node
// Builds the two native Kafka pieces into build/: the mock broker (a librdkafka mock cluster, for
// tests and demos) and the Kafka capture BPF object (loaded by the runtime for kafka:* probes).
// Each is optional: when its compiler or headers are missing, one clear line says what to install
// and the script still exits 0, so that the rest of kafkatrace installs and works without it.
// Usage: node scripts/build-kafka.mjs [--strict]   (--strict: exit 1 when a piece cannot be built)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = join(root, 'build');
const strict = process.argv.includes('--strict');

const BROKER_SOURCE = join(root, 'src/demo/mock-broker.c');
const BROKER_BINARY = join(build, 'kafkatrace-mock-broker');
const CAPTURE_SOURCE = join(root, 'bpf-templates/kafka-capture.bpf.c');
const CAPTURE_OBJECT = join(build, 'kafka-capture.bpf.o');

function have(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Runs a compiler; on failure returns its stderr instead of throwing. */
function compile(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status === 0) return null;
  return (r.stderr || r.error?.message || `${cmd} failed`).trim();
}

function buildBroker() {
  if (!have('cc')) return 'no C compiler: apt-get install gcc';
  if (!existsSync('/usr/include/librdkafka/rdkafka_mock.h'))
    return 'librdkafka headers missing: apt-get install librdkafka-dev';
  return compile('cc', ['-O2', '-Wall', '-Wextra', '-o', BROKER_BINARY, BROKER_SOURCE, '-lrdkafka']);
}

function multiarchInclude() {
  try {
    const triple = execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
    return triple ? [`-I/usr/include/${triple}`] : [];
  } catch {
    return [];
  }
}

function buildCapture() {
  if (!have('clang')) return 'clang missing: apt-get install clang';
  if (!existsSync('/usr/include/bpf/bpf_helpers.h'))
    return 'libbpf headers missing: apt-get install libbpf-dev';
  return compile('clang', [
    '-target', 'bpf', '-O2', '-g', '-Wall',
    ...multiarchInclude(),
    '-c', CAPTURE_SOURCE, '-o', CAPTURE_OBJECT,
  ]);
}

mkdirSync(build, { recursive: true });
let failed = false;
for (const [what, out, step] of [
  ['mock broker', BROKER_BINARY, buildBroker],
  ['Kafka capture program', CAPTURE_OBJECT, buildCapture],
]) {
  const error = step();
  if (error === null) {
    console.log(`kafkatrace: built ${what}: ${out}`);
  } else {
    failed = true;
    console.log(`kafkatrace: ${what} not built (${error.split('\n')[0]})`);
    if (error.includes('\n')) console.error(error);
  }
}
process.exit(strict && failed ? 1 : 0);
