import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, kafkatrace, ROOT } from '../helpers/cli.js';
import { githubAnnotation } from '../../src/cli/check.js';
import { HELP, parseCli, parseDuration } from '../../src/cli/args.js';

describe('command line parsing', () => {
  it('reads bpftrace-style flags', () => {
    const o = parseCli(['-f', 'json', '-p', '42', '-e', 'BEGIN { exit(); }', 'a', 'b']);
    expect(o).toMatchObject({ command: 'trace', format: 'json', pid: 42, program: 'BEGIN { exit(); }', positional: ['a', 'b'] });
  });

  it('takes subcommands first', () => {
    expect(parseCli(['check', 'a.ktr', 'b.ktr']).files).toEqual(['a.ktr', 'b.ktr']);
    expect(parseCli(['compile', 'a.ktr', '-o', 'out']).outputDir).toBe('out');
    expect(parseCli(['run', 'syscount', '--duration', '2s']).durationMs).toBe(2000);
    expect(parseCli(['-lv', 'kafka:*'])).toMatchObject({ command: 'list', verbose: true, listGlob: 'kafka:*' });
  });

  it('rejects what makes no sense with a usage error', () => {
    expect(() => parseCli(['-d', 'llvm', 'x.ktr'])).toThrow(/-d takes ast, plan or c/);
    // -p as bpftrace checks it, with its messages.
    expect(() => parseCli(['-p', 'abc', 'x.ktr'])).toThrow(expect.objectContaining({ errorCode: 'usage', message: "pid 'abc' is not a valid decimal number" }));
    expect(() => parseCli(['-p', '111a1', 'x.ktr'])).toThrow("pid '111a1' is not a valid decimal number");
    expect(() => parseCli(['-p', '5 ', 'x.ktr'])).toThrow("pid '5 ' is not a valid decimal number");
    expect(parseCli(['-p', '+5', 'x.ktr']).pid).toBe(5);
    expect(() => parseCli(['-p', '5000000', 'x.ktr'])).toThrow("pid '5000000' out of valid pid range [1,4194304]");
    expect(() => parseCli(['-p', '0', 'x.ktr'])).toThrow("pid '0' out of valid pid range [1,4194304]");
    expect(parseCli(['-p', '4194304', 'x.ktr']).pid).toBe(4194304);
    expect(() => parseCli(['-p', '1', '-c', 'ls', 'x.ktr'])).toThrow(/cannot be used together/);
    expect(() => parseCli(['compile', 'x.ktr'])).toThrow(/needs -o DIR/);
    expect(() => parseCli(['--bogus'])).toThrow(expect.objectContaining({ errorCode: 'unknown-option', kind: 'usage' }));
    expect(() => parseCli([])).toThrow(/no program given/);
  });

  it('takes the map key limit from --map-keys-max, else BPFTRACE_MAP_KEYS_MAX', () => {
    const saved = process.env['BPFTRACE_MAP_KEYS_MAX'];
    try {
      delete process.env['BPFTRACE_MAP_KEYS_MAX'];
      expect(parseCli(['-e', 'x']).mapKeysMax).toBeUndefined();
      expect(parseCli(['--map-keys-max', '100', '-e', 'x']).mapKeysMax).toBe(100);
      process.env['BPFTRACE_MAP_KEYS_MAX'] = '20000';
      expect(parseCli(['run', 'syscount']).mapKeysMax).toBe(20000);
      expect(parseCli(['--map-keys-max', '7', '-e', 'x']).mapKeysMax).toBe(7);
      expect(parseCli(['check', 'a.ktr']).mapKeysMax).toBeUndefined();
      process.env['BPFTRACE_MAP_KEYS_MAX'] = 'lots';
      expect(() => parseCli(['-e', 'x'])).toThrow(/BPFTRACE_MAP_KEYS_MAX takes a number of keys from 1 to 4294967295, not 'lots'/);
      expect(() => parseCli(['--map-keys-max', '0', '-e', 'x'])).toThrow(/--map-keys-max takes a number of keys/);
      expect(() => parseCli(['check', '--map-keys-max', '5', 'a.ktr'])).toThrow(/only applies when a script runs/);
    } finally {
      if (saved === undefined) delete process.env['BPFTRACE_MAP_KEYS_MAX'];
      else process.env['BPFTRACE_MAP_KEYS_MAX'] = saved;
    }
  });
  it('takes --netns PATH for a script that runs', () => {
    expect(parseCli(['run', 'kafka-lag', '--netns', '/run/netns/n1']).netns).toBe('/run/netns/n1');
    expect(parseCli(['-e', 'x']).netns).toBeUndefined();
    expect(() => parseCli(['check', '--netns', '/run/netns/n1', 'a.ktr'])).toThrow(/--netns only applies when a script runs, not to check/);
  });
  it('takes bpftrace\'s -q, --no-warnings, --info and BPFTRACE_CAT_BYTES_MAX', () => {
    const saved = { cat: process.env['BPFTRACE_CAT_BYTES_MAX'], notify: process.env['__BPFTRACE_NOTIFY_PROBES_ATTACHED'] };
    try {
      delete process.env['BPFTRACE_CAT_BYTES_MAX'];
      delete process.env['__BPFTRACE_NOTIFY_PROBES_ATTACHED'];
      expect(parseCli(['-e', 'x'])).toMatchObject({ quiet: false, noWarnings: false, notifyAttached: false });
      expect(parseCli(['-e', 'x']).catBytesMax).toBeUndefined();
      expect(parseCli(['-q', '--no-warnings', '-e', 'x', '1'])).toMatchObject({ quiet: true, noWarnings: true, positional: ['1'] });
      expect(parseCli(['--info']).command).toBe('info');
      expect(parseCli(['-e', 'x']).helperChecks).toBe(0);
      expect(parseCli(['-k', '-e', 'x']).helperChecks).toBe(1);
      expect(parseCli(['-kk', '-e', 'x']).helperChecks).toBe(2);
      expect(parseCli(['-k', '-e', 'x', '-k']).helperChecks).toBe(2);
      expect(parseCli(['-e', 'x', '--usdt-file-activation']).usdtFileActivation).toBe(true);
      expect(parseCli(['--include', 'errno.h', '-e', 'x', '--include', 'linux/in.h']).includes).toEqual(['errno.h', 'linux/in.h']);
      expect(() => parseCli(['--include', 'a"b', '-e', 'x'])).toThrow('--include takes a header file name, not "a\\"b"');
      process.env['BPFTRACE_CAT_BYTES_MAX'] = '3';
      process.env['__BPFTRACE_NOTIFY_PROBES_ATTACHED'] = '1';
      expect(parseCli(['-e', 'x'])).toMatchObject({ catBytesMax: 3, notifyAttached: true });
      process.env['BPFTRACE_CAT_BYTES_MAX'] = '10k';
      expect(() => parseCli(['-e', 'x'])).toThrow(/BPFTRACE_CAT_BYTES_MAX takes a number of bytes, not '10k'/);
    } finally {
      for (const [k, v] of [['BPFTRACE_CAT_BYTES_MAX', saved.cat], ['__BPFTRACE_NOTIFY_PROBES_ATTACHED', saved.notify]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('--help and the README\'s options table name the same options', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('| option | meaning |'));
    const rows = table.slice(0, table.indexOf('\n\n')).split('\n').slice(2);
    const documented = new Set(rows.flatMap((r) => [...r.split('|')[1]!.matchAll(/`(-[-\w]+)/g)].map((m) => m[1]!)));
    const help = HELP.slice(HELP.indexOf('OPTIONS\n'), HELP.indexOf('ENVIRONMENT'));
    const helped = new Set([...help.matchAll(/^ {2}(-[-\w]+)(?:, (-[-\w]+))?/gm)].flatMap((m) => [m[1]!, m[2]].filter((o): o is string => !!o)));
    expect(helped.size).toBeGreaterThanOrEqual(20);
    expect([...helped].sort()).toEqual([...documented].sort());
    for (const bpftraceOption of ['-q', '--info', '--no-warnings', '--usdt-file-activation']) expect(helped).toContain(bpftraceOption);
  });

  it('parses durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1.5')).toBe(1500);
    expect(() => parseDuration('soon')).toThrow(/invalid duration/);
  });
});

describe('GitHub annotations', () => {
  it('escapes properties and data as workflow commands require', () => {
    const line = githubAnnotation({ severity: 'error', message: 'bad 100%\nthing', file: 'a,b:c.ktr', loc: { line: 3, col: 5, offset: 0, length: 4 } });
    expect(line).toBe('::error file=a%2Cb%3Ac.ktr,line=3,col=5,endColumn=9::bad 100%25%0Athing');
  });
});

describe('kafkatrace (the built command)', () => {
  it('leaves the pipes it shares blocking: grep writing where kafkatrace writes its errors does not fail when its reader lags', async () => {
    // bpftrace's `-l -p PID | grep` cases read stdout and stderr from one pipe, slowly; here the
    // reader waits before it reads, so that grep's writes fill the pipe.
    const list = `"${process.execPath}" "${BIN}" -l 'uprobe:${process.execPath}:*'`;
    const child = spawn('sh', ['-c', `exec 2>&1; ${list} | grep -e '^uprobe'`], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    let lines = 0;
    let rest = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      const parts = (rest + s).split('\n');
      rest = parts.pop()!;
      lines += parts.length;
    });
    child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    child.stdout.resume();
    expect(await exited).toBe(0);
    expect(lines).toBeGreaterThan(1000);
  });

  it('prints help and version', () => {
    const help = kafkatrace(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('kafkatrace check');
    const version = kafkatrace(['-V']);
    expect(version.stdout).toMatch(/^kafkatrace v\d+\.\d+\.\d+ \(bpftrace v0\.17\.0 language\)\n$/);
  });

  it('check: exit 0 on a good script, 1 with every diagnostic on a bad one', () => {
    expect(kafkatrace(['check', '-e', 'tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }'])).toMatchObject({ code: 0, stderr: '' });
    const bad = kafkatrace(['check', '-e', 'BEGIN { @a = count(); @a = sum(1); printff("x"); }']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^-e:1:\d+: ERROR: /m);
    expect(bad.stderr.match(/ERROR:/g)!.length).toBeGreaterThanOrEqual(2);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });

  it('check: catches what compile would reject (an unknown signal, a missing kernel symbol, too much scratch space), where compile does', () => {
    const scratch = `BEGIN { ${Array.from({ length: 33 }, (_, i) => `$v${i} = str(0, 1024);`).join(' ')} }`;
    for (const [script, at] of [['BEGIN { signal("SIGFOO"); }', '-e:1:16'], ['BEGIN { @ = kaddr("kt_no_such_symbol"); }', '-e:1:19'], [scratch, '-e:1:1']]) {
      const checked = kafkatrace(['check', '--unsafe', '-e', script]);
      expect(checked.code).toBe(1);
      expect(checked.stderr).toContain(`${at}: ERROR: `);
      expect(checked.stderr).not.toMatch(/\n\s+at /);
      const compiled = kafkatrace(['compile', '--unsafe', '-e', script, '-o', '/dev/null']);
      expect(compiled.code).not.toBe(0);
      expect(compiled.stderr).toBe(checked.stderr);
    }
  });

  it('check --format github prints annotations', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kt-check-'));
    try {
      const file = join(dir, 'bad.ktr');
      writeFileSync(file, 'BEGIN {\n  printf("%d\\n", nosuchbuiltin);\n}\n');
      const r = kafkatrace(['check', '--format', 'github', file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^::error file=${file.replace(/\//g, '\\/')},line=2,col=\\d+`, 'm'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('check: every example and stdlib script is clean', () => {
    const scripts = [
      ...readdirSync(join(ROOT, 'examples')).map((f) => join('examples', f)),
      ...readdirSync(join(ROOT, 'stdlib')).filter((f) => f.endsWith('.ktr')).map((f) => join('stdlib', f)),
    ];
    expect(scripts.length).toBeGreaterThan(15);
    const r = kafkatrace(['check', ...scripts]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('a missing script file is one clear line', () => {
    const r = kafkatrace(['/no/such/script.ktr']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERROR: failed to open file '\/no\/such\/script.ktr': No such file or directory\n$/);
  });

  it('lists kafka probes with their args', () => {
    const r = kafkatrace(['-lv', 'kafka:produce']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^kafka:produce\n/);
    expect(r.stdout).toMatch(/^ {4}string\[\d+\] topic;$/m);
    expect(r.stdout).toMatch(/^ {4}int64 partition;$/m);
  });

  it('lists tracepoints with their args, and a binary\'s uprobe symbols', () => {
    const tp = kafkatrace(['-lv', 'tracepoint:syscalls:sys_enter_openat']);
    expect(tp.code).toBe(0);
    expect(tp.stdout).toMatch(/^tracepoint:syscalls:sys_enter_openat\n/);
    expect(tp.stdout).toMatch(/^ {4}const char \* ?filename;$/m);
    expect(tp.stdout).not.toMatch(/common_pid/);
    const all = kafkatrace(['-l', 'tracepoint:syscalls:sys_enter_open*']).stdout.split('\n');
    expect(all).toContain('tracepoint:syscalls:sys_enter_openat');
    expect(all.every((l) => l === '' || l.startsWith('tracepoint:syscalls:sys_enter_open'))).toBe(true);
    const up = kafkatrace(['-l', 'uprobe:/bin/bash:readline*']);
    expect(up.stdout.split('\n')).toContain('uprobe:/bin/bash:readline');
  });

  it('run --list names the stdlib tools', () => {
    const r = kafkatrace(['run', '--list']);
    expect(r.code).toBe(0);
    for (const tool of ['kafka-lag', 'kafka-overview', 'syscount', 'execsnoop']) expect(r.stdout).toMatch(new RegExp(`^${tool} `, 'm'));
  });

  it('-d ast, -d plan and -d c print their stage', () => {
    const prog = 'tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }';
    expect(kafkatrace(['-d', 'ast', '-e', prog]).stdout).toMatch(/sys_enter_openat/);
    const plan = JSON.parse(kafkatrace(['-d', 'plan', '-e', prog]).stdout) as { version: number; maps: unknown[] };
    expect(plan.version).toBe(1);
    expect(plan.maps).toHaveLength(1);
    expect(kafkatrace(['-d', 'c', '-e', prog]).stdout).toMatch(/SEC\("tracepoint/);
  });

  it('compile writes the C, the object and the plan', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kt-compile-'));
    try {
      const r = kafkatrace(['compile', join(ROOT, 'stdlib', 'syscount.ktr'), '-o', dir]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(readdirSync(dir).sort()).toEqual(['syscount.bpf.c', 'syscount.bpf.o', 'syscount.plan.json']);
      expect(readFileSync(join(dir, 'syscount.bpf.o')).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
