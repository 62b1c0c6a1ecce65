#!/usr/bin/env node
// bpftrace compatibility, measured: bpftrace v0.17.0's own runtime tests (tests/runtime, driven by
// its engine, tests/runtime/engine/main.py) run against bpftrace and against kafkatrace, and every
// tools/*.bt of the same release run for a few seconds under both. A developer's measurement, not
// part of `npm test`: it downloads, needs root and takes about a quarter of an hour.
//
//   node scripts/bpftrace-runtime-tests.mjs [--filter GLOB] [--kafkatrace CHECKOUT] [--no-tools]
//                                           [--tools-only] [--bpftrace-results FILE]
//
// The release comes from Debian's source package, pinned by its sha256, into the kafkatrace cache
// ($XDG_CACHE_HOME/kafkatrace/bpftrace-0.17.0, else ~/.cache/...), used only when no other user can
// write it (src/cache-dir.ts's rule). The test programs and libraries are built there with cc, as
// the release's CMakeLists.txt builds them. The engine runs `{{BPFTRACE}}` as DIR/bpftrace where DIR
// is BPFTRACE_RUNTIME_TEST_EXECUTABLE: for kafkatrace that is a wrapper that runs bin/kafkatrace.js
// under the process name bpftrace, because cases signal or filter the tracer by that name
// (`pidof bpftrace`, `pkill -SIGINT bpftrace`). Results land in the cache's results/ directory: the
// engine's logs, one line per case (case, bpftrace, kafkatrace) and the summary printed here.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const RELEASE = 'bpftrace-0.17.0';
const TARBALL = 'bpftrace_0.17.0.orig.tar.gz';
const URL = `http://deb.debian.org/debian/pool/main/b/bpftrace/${TARBALL}`;
// From bpftrace_0.17.0-1.dsc (Checksums-Sha256); its md5 there is 36dbbc132a3bd496a950841b39417128.
const SHA256 = 'ccc853205b081fd7e4270016065ccc04764286644bf8e0eee9bd7f344cad63e5';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// How long a tool runs once attached, and how long it may take to attach, in the tools table.
const TOOL_RUN_MS = 2000;
const TOOL_ATTACH_MS = 30000;
// How long a tool has to end after SIGINT before it is killed.
const TOOL_STOP_MS = 10000;
const ATTACHED = '__BPFTRACE_NOTIFY_PROBES_ATTACHED';
const USAGE = `usage: node scripts/bpftrace-runtime-tests.mjs [options]   (as root)
  --filter GLOB             only the cases suite.name matching GLOB (no tools table)
  --kafkatrace CHECKOUT     the kafkatrace checkout to measure (default: this one; needs its dist/)
  --bpftrace-results FILE   reuse bpftrace's results from a previous run (results/bpftrace.json)
  --no-tools                no tools table
  --tools-only              only the tools table
`;

function fail(message) {
  process.stderr.write(`bpftrace-runtime-tests: ${message}\n`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `status ${r.status}`}):\n${r.stderr ?? ''}`);
  return r.stdout;
}

function which(name) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

async function cacheDir() {
  const { untrustedDirectory } = await import(join(ROOT, 'dist/src/cache-dir.js')).catch(() => fail('dist/ is missing: run npm run build first'));
  const base = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kafkatrace');
  const dir = join(base, RELEASE);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const realBase = realpathSync(base);
  const why = untrustedDirectory(realpathSync(dir), realBase);
  if (why) fail(`not using ${dir}: ${why}`);
  return realpathSync(dir);
}

function sha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function fetchRelease(dir) {
  const tarball = join(dir, TARBALL);
  if (!existsSync(tarball) || sha256(tarball) !== SHA256) {
    process.stderr.write(`fetching ${URL}\n`);
    const res = await fetch(URL);
    if (!res.ok) fail(`${URL}: HTTP ${res.status}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== SHA256) fail(`${URL}: sha256 ${got}, expected ${SHA256}`);
    writeFileSync(`${tarball}.part`, bytes, { mode: 0o600 });
    renameSync(`${tarball}.part`, tarball);
  }
  const src = join(dir, RELEASE);
  const marker = join(dir, `${RELEASE}.unpacked`);
  if (!existsSync(marker)) {
    rmSync(src, { recursive: true, force: true });
    run('tar', ['-xzf', tarball, '-C', dir, '--no-same-owner', '--no-same-permissions']);
    writeFileSync(marker, SHA256 + '\n');
  }
  return src;
}

/** The release's tests/ laid out as its CMakeLists.txt lays out the build's: runtime/, testprogs/, testlibs/. */
function buildTests(dir, src) {
  const tests = join(dir, 'tests');
  const marker = join(tests, '.built');
  if (existsSync(marker)) return tests;
  rmSync(tests, { recursive: true, force: true });
  mkdirSync(join(tests, 'testprogs'), { recursive: true });
  mkdirSync(join(tests, 'testlibs'), { recursive: true });
  cpSync(join(src, 'tests/runtime'), join(tests, 'runtime'), { recursive: true });
  // The engine's one configured file: whether libbcc carries the AOT runtime (AOT cases are not run).
  writeFileSync(join(tests, 'runtime/engine/cmake_vars.py'), 'LIBBCC_BPF_CONTAINS_RUNTIME = False\n');
  const sdt = existsSync('/usr/include/sys/sdt.h') ? ['-DHAVE_SYSTEMTAP_SYS_SDT_H'] : [];
  const cc = which('cc') ?? fail('no C compiler (cc)');
  for (const f of readdirSync(join(src, 'tests/testlibs')).filter((f) => f.endsWith('.c'))) {
    const out = join(tests, 'testlibs', `lib${basename(f, '.c')}.so`);
    run(cc, ['-g', '-O0', '-fPIC', '-shared', ...sdt, '-o', out, join(src, 'tests/testlibs', f)]);
    chmodSync(out, 0o644);
  }
  for (const f of readdirSync(join(src, 'tests/testprogs')).filter((f) => f.endsWith('.c'))) {
    const name = basename(f, '.c');
    const extra = name === 'usdt_lib' ? ['-fPIC', `-I${join(src, 'tests/testlibs')}`, `-L${join(tests, 'testlibs')}`, `-Wl,-rpath,${join(tests, 'testlibs')}`] : [];
    const libs = name === 'usdt_lib' ? ['-lusdt_tp'] : [];
    run(cc, ['-g', '-O0', '-no-pie', '-Wno-undef', ...sdt, ...extra, '-o', join(tests, 'testprogs', name), join(src, 'tests/testprogs', f), ...libs, '-lpthread']);
  }
  writeFileSync(marker, '');
  return tests;
}

/** DIR/bpftrace for each tool: bpftrace itself, and kafkatrace under bpftrace's process name. */
function toolDirs(dir, checkout) {
  const bpftrace = which('bpftrace') ?? fail('bpftrace is not installed');
  const node = process.execPath;
  const entry = join(checkout, 'bin/kafkatrace.js');
  if (!existsSync(join(checkout, 'dist/bundle'))) fail(`${checkout} has no dist/: run npm run build there`);
  const tools = join(dir, 'tools');
  rmSync(tools, { recursive: true, force: true });
  mkdirSync(join(tools, 'bpftrace'), { recursive: true });
  mkdirSync(join(tools, 'kafkatrace'), { recursive: true });
  symlinkSync(bpftrace, join(tools, 'bpftrace/bpftrace'));
  const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  writeFileSync(join(tools, 'kafkatrace/bpftrace'), `#!/bin/bash\nexec -a bpftrace ${q(node)} --title=bpftrace ${q(entry)} "$@"\n`, { mode: 0o755 });
  return { bpftrace: join(tools, 'bpftrace'), kafkatrace: join(tools, 'kafkatrace') };
}

const MARKS = [
  ['[       OK ] ', 'PASS'],
  ['[  FAILED  ] ', 'FAIL'],
  ['[  TIMEOUT ] ', 'TIMEOUT'],
  ['[   SKIP   ] ', 'SKIP'],
];

/** Runs the engine over every case with DIR/bpftrace as the tool; case → { status, detail }. */
function runEngine(tests, toolDir, label, filter, logFile) {
  return new Promise((resolveRun) => {
    const args = ['runtime/engine/main.py', ...(filter ? ['--filter', filter] : [])];
    const child = spawn('/usr/bin/python3', args, { cwd: tests, env: { ...process.env, BPFTRACE_RUNTIME_TEST_EXECUTABLE: toolDir, PYTHONUNBUFFERED: '1' } });
    let log = '';
    const results = new Map();
    let current;
    let pending = '';
    const onLine = (line) => {
      if (line.startsWith('[ RUN      ] ')) {
        current = line.slice(13).trim();
        return;
      }
      const mark = MARKS.find(([m]) => line.startsWith(m));
      if (mark && current && line.slice(13).trim() === current && !results.has(current)) {
        results.set(current, { case: current, status: mark[1], detail: {} });
        process.stderr.write(`${label.padEnd(10)} ${mark[1].padEnd(7)} ${current}\n`);
        return;
      }
      const d = /^\t(Command|Unclean exit code|Output|Expected|Found|Current output|Timeout): ?(.*)$/.exec(line);
      if (d && current && results.has(current)) results.get(current).detail[d[1]] = d[2];
    };
    child.stdout.on('data', (b) => {
      log += b;
      pending += b;
      const lines = pending.split('\n');
      pending = lines.pop();
      lines.forEach(onLine);
    });
    child.stderr.on('data', (b) => (log += b));
    child.on('close', () => {
      if (pending) onLine(pending);
      writeFileSync(logFile, log);
      resolveRun(results);
    });
  });
}

/** The engine prints a failed case's output with Python's unicode_escape: undo the common escapes. */
function unescape(s) {
  return (s ?? '').replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\\\\/g, '\\');
}

/** A short reason for a failure, the same for failures of the same cause (numbers and names elided). */
function reasonOf(result) {
  if (!result) return 'not run';
  if (result.status === 'SKIP') return 'skipped (a REQUIRES or REQUIRES_FEATURE the tool does not meet)';
  const output = unescape(result.detail['Output'] ?? result.detail['Found'] ?? result.detail['Current output']);
  const error = output.split('\n').find((l) => /\b(error|ERROR): /.test(l));
  if (error) {
    return error
      .replace(/^.*?\b(error|ERROR): /, '')
      .replace(/'[^']*'/g, "'…'")
      .replace(/"[^"]*"/g, '"…"')
      .replace(/\b0x[0-9a-f]+\b|\b\d+\b/gi, 'N')
      .trim()
      .slice(0, 120);
  }
  if (result.status === 'TIMEOUT') return output.includes(ATTACHED) ? 'timeout after attaching (EXPECT not seen in time)' : 'timeout before attaching';
  if (result.detail['Unclean exit code']) return `exit status ${result.detail['Unclean exit code']} with no error message`;
  const expected = result.detail['Expected'] ?? '';
  if (/error|fail|invalid|not|cannot|unknown/i.test(expected)) return "no error, or not bpftrace's error message";
  // A struct value printed as the integer of its first bytes.
  if (/\{ ?\.?\\?[a-z]/.test(expected) && /\b\d{6,}\b/.test(output)) return 'ran; prints a struct value as an integer';
  return `ran; output does not match EXPECT (${result.case.split('.')[0]} cases)`;
}

/**
 * Each tools/*.bt for a few seconds: 'runs' when it attached (the engine's notice, or the
 * `Attaching N probes...` banner of a tool without the notice) and then ran until stopped or ended
 * cleanly, else its first error line.
 */
function runTool(toolDir, file) {
  return new Promise((resolveRun) => {
    const child = spawn(join(toolDir, 'bpftrace'), [file], { env: { PATH: process.env.PATH, HOME: process.env.HOME ?? homedir(), [ATTACHED]: '1' }, detached: true });
    let out = '';
    let attached = false;
    let stopped = false;
    let closed = false;
    // Timers that signal the tool's process group; none may fire once it has ended (its id is free).
    const timers = [];
    const signalGroup = (sig) => {
      if (closed) return;
      try {
        process.kill(-child.pid, sig);
      } catch {}
    };
    const stop = () => {
      if (stopped) return;
      stopped = true;
      signalGroup('SIGINT');
      timers.push(setTimeout(() => signalGroup('SIGKILL'), TOOL_STOP_MS));
    };
    const giveUp = setTimeout(stop, TOOL_ATTACH_MS);
    const onData = (b) => {
      out += b;
      if (!attached && (out.includes(ATTACHED) || /^Attaching \d+ probes?\.\.\./m.test(out))) {
        attached = true;
        clearTimeout(giveUp);
        timers.push(setTimeout(stop, TOOL_RUN_MS));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code, signal) => {
      closed = true;
      clearTimeout(giveUp);
      timers.forEach(clearTimeout);
      // bpftrace prints its banner before attaching: after the banner alone, only a tool that was still
      // running when stopped has attached.
      const ran = out.includes(ATTACHED) ? stopped || code === 0 : stopped;
      if (attached && ran && signal !== 'SIGKILL') {
        // bpftrace warns and skips a probe it cannot attach when others attach.
        const skipped = (out.match(/could not attach probe/g) ?? []).length;
        return resolveRun({ ok: true, text: skipped ? `runs (${skipped} probes skipped)` : 'runs' });
      }
      // bpftrace says it could not raise RLIMIT_MEMLOCK at every start here, and goes on.
      const lines = out.split('\n').filter((l) => l.trim() !== '' && !l.includes(ATTACHED) && !l.includes('RLIMIT_MEMLOCK'));
      const line = lines.find((l) => /error|unknown|not supported|cannot|could not/i.test(l));
      let text = line ?? lines[0] ?? `ended with ${signal ?? code}`;
      if (signal === 'SIGKILL') text = `did not end within ${TOOL_STOP_MS / 1000} s of SIGINT`;
      else if (!line && stopped && !attached) text = `did not attach within ${TOOL_ATTACH_MS / 1000} s`;
      resolveRun({ ok: false, text: text.trim().slice(0, 100) });
    });
  });
}

function table(rows, header) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

async function main() {
  const { values: v } = parseArgs({
    options: {
      filter: { type: 'string' },
      kafkatrace: { type: 'string' },
      'no-tools': { type: 'boolean' },
      'tools-only': { type: 'boolean' },
      'bpftrace-results': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (process.geteuid() !== 0) fail('must run as root (both tools load BPF programs)');
  if (!existsSync('/usr/bin/python3')) fail('the engine needs /usr/bin/python3 (with distutils: python3-distutils)');
  const dir = await cacheDir();
  const src = await fetchRelease(dir);
  const tests = buildTests(dir, src);
  const checkout = resolve(v.kafkatrace ?? ROOT);
  const tools = toolDirs(dir, checkout);
  const results = join(dir, 'results');
  mkdirSync(results, { recursive: true, mode: 0o700 });
  let report = `kafkatrace: ${checkout} (${spawnSync('git', ['-C', checkout, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || 'not a git checkout'})\n`;
  report += `bpftrace: ${spawnSync(join(tools.bpftrace, 'bpftrace'), ['--version'], { encoding: 'utf8' }).stdout.trim()}; kernel ${spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim()}\n\n`;

  if (!v['tools-only']) {
    // bpftrace's results depend only on this machine: a previous run's may be reused.
    let bt;
    if (v['bpftrace-results']) {
      bt = new Map(Object.entries(JSON.parse(readFileSync(v['bpftrace-results'], 'utf8'))));
    } else {
      bt = await runEngine(tests, tools.bpftrace, 'bpftrace', v.filter, join(results, 'bpftrace.log'));
      writeFileSync(join(results, 'bpftrace.json'), JSON.stringify(Object.fromEntries(bt), null, 1));
    }
    const kt = await runEngine(tests, tools.kafkatrace, 'kafkatrace', v.filter, join(results, 'kafkatrace.log'));
    writeFileSync(join(results, 'kafkatrace.json'), JSON.stringify(Object.fromEntries(kt), null, 1));
    const cases = [...new Set([...kt.keys(), ...(v.filter ? [] : bt.keys())])].sort();
    const status = (m, c) => (m.get(c)?.status ?? '-').replace('TIMEOUT', 'FAIL');
    const perCase = cases.map((c) => `${c.padEnd(60)} ${status(bt, c).padEnd(5)} ${status(kt, c)}`).join('\n') + '\n';
    writeFileSync(join(results, 'cases.txt'), perCase);
    process.stdout.write(`${'case'.padEnd(60)} bpftrace kafkatrace\n${perCase}\n`);
    const btPass = cases.filter((c) => bt.get(c)?.status === 'PASS');
    const both = btPass.filter((c) => kt.get(c)?.status === 'PASS');
    const count = (m, s) => cases.filter((c) => m.get(c)?.status === s).length;
    report += `cases: ${cases.length}; bpftrace: ${btPass.length} pass, ${count(bt, 'FAIL') + count(bt, 'TIMEOUT')} fail, ${count(bt, 'SKIP')} skip; `;
    report += `kafkatrace: ${count(kt, 'PASS')} pass, ${count(kt, 'FAIL') + count(kt, 'TIMEOUT')} fail, ${count(kt, 'SKIP')} skip\n`;
    const rate = btPass.length ? ((100 * both.length) / btPass.length).toFixed(1) : '0';
    report += `kafkatrace passes ${both.length} of the ${btPass.length} cases bpftrace passes here (${rate}%)\n\n`;
    const groups = new Map();
    for (const c of btPass.filter((c) => kt.get(c)?.status !== 'PASS')) {
      const reason = reasonOf(kt.get(c));
      groups.set(reason, [...(groups.get(reason) ?? []), c]);
    }
    report += 'kafkatrace failures among them, by reason:\n';
    for (const [reason, cs] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
      report += `${String(cs.length).padStart(4)}  ${reason}\n        ${cs.slice(0, 4).join(' ')}${cs.length > 4 ? ' …' : ''}\n`;
    }
    report += '\n';
  }

  if (!v['no-tools'] && !v.filter) {
    const toolsDir = join(src, 'tools');
    const rows = [];
    for (const f of readdirSync(toolsDir).filter((f) => f.endsWith('.bt')).sort()) {
      const b = await runTool(tools.bpftrace, join(toolsDir, f));
      const k = await runTool(tools.kafkatrace, join(toolsDir, f));
      rows.push([f, b.text, k.text, b.ok === k.ok ? (b.ok ? 'same' : 'both fail') : b.ok ? 'GAP' : 'kafkatrace only']);
      process.stderr.write(`tool ${f}: ${b.text} | ${k.text}\n`);
    }
    const runs = (t) => t.startsWith('runs');
    const bRuns = rows.filter((r) => runs(r[1])).length;
    const kRuns = rows.filter((r) => runs(r[1]) && runs(r[2])).length;
    report += `tools/*.bt (${rows.length}): ${bRuns} run under bpftrace here, kafkatrace runs ${kRuns} of them (${rows.filter((r) => runs(r[2])).length} in all)\n`;
    report += table(rows, ['tool', 'bpftrace', 'kafkatrace', '']);
  }
  writeFileSync(join(results, 'summary.txt'), report);
  process.stdout.write(report);
  process.stdout.write(`\n(results and the engine's logs: ${results})\n`);
}

await main();
