#!/usr/bin/env node
// Builds the libbpf addon (build/Release/kafkatrace_native.node) with node-gyp at install time.
// Without a C++ compiler or libbpf/libelf headers it says so in one line and exits 0: the front end
// (check, compile, -d) works without the addon; only running scripts needs it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function includeDirs() {
  const out = spawnSync('cc', ['-E', '-Wp,-v', '-xc', '/dev/null'], { encoding: 'utf8' });
  const dirs = (out.stderr ?? '')
    .split('\n')
    .filter((l) => l.startsWith(' /'))
    .map((l) => l.trim());
  return dirs.length > 0 ? dirs : ['/usr/include', '/usr/local/include'];
}

function hasHeader(name) {
  return includeDirs().some((d) => existsSync(join(d, name)));
}

const missing = [];
if (!onPath('c++') && !onPath('g++') && !onPath('clang++')) missing.push('a C++ compiler (g++)');
if (!onPath('cc')) missing.push('a C compiler (gcc)');
else {
  if (!hasHeader('bpf/libbpf.h')) missing.push('libbpf-dev');
  if (!hasHeader('libelf.h')) missing.push('libelf-dev');
  if (!hasHeader('zlib.h')) missing.push('zlib1g-dev');
}
if (missing.length > 0) {
  console.log(
    `kafkatrace: native addon not built (missing ${missing.join(', ')}); check/compile work, running scripts ` +
      'needs it: apt-get install libbpf-dev libelf-dev zlib1g-dev g++ then npm rebuild',
  );
  process.exit(0);
}

// npm sets npm_config_node_gyp to its bundled node-gyp; otherwise use the one next to npm, or npx.
function nodeGypCommand() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const c of candidates) {
    if (c && existsSync(c)) return c.endsWith('.js') ? [process.execPath, c] : [c];
  }
  return ['npx', '--yes', 'node-gyp'];
}

// Node's own headers, when installed (Debian's nodejs ships them), spare node-gyp a download.
const nodeDir = resolve(dirname(process.execPath), '..');
const nodeDirArg = existsSync(join(nodeDir, 'include', 'node', 'node_api.h')) ? [`--nodedir=${nodeDir}`] : [];

// configure + build rather than rebuild: rebuild deletes build/, where other build steps put the
// mock broker and the Kafka capture object.
const [cmd, ...pre] = nodeGypCommand();
for (const step of ['configure', 'build']) {
  const result = spawnSync(cmd, [...pre, step, ...nodeDirArg], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    process.stderr.write(result.stdout ?? '');
    process.stderr.write(result.stderr ?? '');
    console.error(`kafkatrace: building the native addon failed (node-gyp ${step} exited with ${result.status ?? result.signal})`);
    process.exit(1);
  }
}
console.log('kafkatrace: native addon built (build/Release/kafkatrace_native.node, build/Release/kafkatrace-held)');
