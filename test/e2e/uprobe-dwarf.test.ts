// Uprobe args from DWARF, end to end: test/fixtures/dwarf/dwarf_test.c built with -g, its functions
// called with random values given on its command line; what kafkatrace reads through args must be
// those values, and bpftrace 0.17 (its output stored, and run where it is installed) must agree.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileScript } from '../../src/compiler.js';
import { RealSystem, realSystem } from '../../src/frontend/system.js';
import { createOutput } from '../../src/runtime/output.js';
import { runSession } from '../../src/runtime/session.js';
import { ROOT, canRun, collector, hasBpftrace } from './runtime-helpers.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'dwarf');
const dir = mkdtempSync(join(tmpdir(), 'kt-uprobe-dwarf-'));
const BINARY = join(dir, 'dwarf_test');
// As bpftrace's CMakeLists.txt builds its testprogs.
execFileSync('cc', ['-g', '-O0', '-o', BINARY, join(FIXTURES, 'dwarf_test.c')]);
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe("-lv 'uprobe:BIN:*' lists parameters as bpftrace 0.17 does", () => {
  // Captured in the binary's directory with `bpftrace -lv 'uprobe:./dwarf_test:*'`.
  const fixture = readFileSync(join(FIXTURES, 'dwarf_test.lv.txt'), 'utf8');

  it('kafkatrace prints the stored bpftrace listing', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'kafkatrace.js'), '-lv', 'uprobe:./dwarf_test:*'], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(fixture);
    expect(r.stdout).toContain('uprobe:./dwarf_test:function2\n    struct Foo* foo1\n    struct Foo* foo2\n');
  });

  it.runIf(hasBpftrace() && process.getuid?.() === 0)('bpftrace still prints the fixture', () => {
    expect(execFileSync('bpftrace', ['-lv', 'uprobe:./dwarf_test:*'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toBe(fixture);
  });
});

interface Values {
  n: number;
  a: number;
  b: string;
  u8: number;
  s16: number;
  u64: bigint;
  label: string;
}

function randomValues(): Values {
  return {
    n: randomInt(-(2 ** 31), 2 ** 31 - 1),
    // function2's c[] holds a, a + 1 and a + 2.
    a: randomInt(-(2 ** 31), 2 ** 31 - 3),
    // struct Foo's char b[10] holds 9 and its NUL.
    b: randomBytes(5).toString('hex').slice(0, randomInt(1, 10)),
    u8: randomInt(0, 256),
    // Negative: the register holds it sign-extended to 32 bits only, so a read at the wrong width shows.
    s16: randomInt(-32768, 0),
    u64: randomBytes(8).readBigUInt64LE(),
    label: `l${randomBytes(8).toString('hex')}`,
  };
}

/** The program calling its functions with `v` every 10 ms until killed. */
function workload(v: Values): number {
  const child = spawn(BINARY, ['loop', String(v.n), String(v.a), v.b, String(v.u8), String(v.s16), String(v.u64), v.label], { stdio: 'ignore' });
  children.push(child);
  return child.pid!;
}

async function kafkatrace(script: string, pid: number): Promise<string> {
  const r = await compileScript(script, 'dwarf.bt', { positional: [String(pid)], unsafe: false, system: realSystem() });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`).join('\n'));
  const c = collector();
  await runSession(r.compiled.plan, r.compiled.object!, { signals: false, output: createOutput({ format: 'text', write: c.write, writeError: c.writeError }) });
  return c.text();
}

// What bpftrace's DWARF support reads too (bpftrace 0.17 gives up on structs with bitfields or anonymous unions).
// The probes attach one after the other: function2's prints once function1's has fired.
const FOO = `uprobe:${BINARY}:function1 /pid == $1 && @one == 0/ { printf("%d %c\\n", *args->n, args->c); @one = 1; }
uprobe:${BINARY}:function2 /pid == $1 && @one/ { printf("%d %s\\n", args->foo1->a, args->foo1->b); print(args->foo1->c); printf("%d\\n", ((struct Foo *)arg1)->a); exit(); }`;
const fooExpected = (v: Values): string => `${v.n} x\n${v.a} ${v.b}\n[${v.a},${v.a + 1},${v.a + 2}]\n456\n`;

describe.runIf(canRun())('uprobe args from DWARF, end to end', () => {
  it('args->n, args->foo1->a, ->b, ->c and a cast struct are the values the program was given', async () => {
    const v = randomValues();
    expect(await kafkatrace(FOO, workload(v))).toContain(fooExpected(v));
  }, 60_000);

  it('integers of every width and sign, strings, embedded and pointed-to structs, bitfields and arrays', async () => {
    const v = randomValues();
    const script = `uprobe:${BINARY}:mixed /pid == $1/ {
      printf("%u %d %ld %lu %s|", args->u8, args->s16, args->s16 * 3, args->u64, str(args->label));
      printf("%d %d %d %d %d %s %d\\n", args->outer->inner.s, args->outer->next->s, args->outer->flag, args->outer->level,
        args->outer->grid[1][2], str(args->outer->label), args->value->l);
      exit(); }`;
    const half = Math.trunc(v.s16 / 2);
    expect(await kafkatrace(script, workload(v))).toContain(`${v.u8} ${v.s16} ${v.s16 * 3} ${v.u64} ${v.label}|${half} ${half} 1 21 6 outer -5\n`);
  }, 60_000);

  it.runIf(hasBpftrace())('bpftrace reads the same values with the same script', () => {
    const v = randomValues();
    const out = execFileSync('bpftrace', ['-e', FOO, String(workload(v))], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
    expect(out).toContain(fooExpected(v));
  }, 60_000);
});

describe.runIf(canRun())('DWARF from a separate debug file, found by build id', () => {
  // As Debian's -dbgsym packages split them: the program stripped, its DWARF (compressed) in DIR/.build-id/XX/REST.debug.
  const debugDir = join(dir, 'debug');
  const stripped = join(dir, 'stripped');
  execFileSync('objcopy', ['--only-keep-debug', '--compress-debug-sections=zlib', BINARY, join(dir, 'split.debug')]);
  execFileSync('objcopy', ['--strip-debug', BINARY, stripped]);
  const id = /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', stripped], { encoding: 'utf8' }))![1]!;
  const debugFile = join(debugDir, '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`);
  mkdirSync(join(debugDir, '.build-id', id.slice(0, 2)), { recursive: true, mode: 0o755 });
  execFileSync('cp', [join(dir, 'split.debug'), debugFile]);
  const parameters = () => new RealSystem({ tracefs: false, debugDir }).functionParameters(stripped, 'function2');
  // Stripped of its symbol table too: its functions are in its debug file's only (executables export none).
  const bare = join(dir, 'bare');
  execFileSync('objcopy', ['--strip-all', BINARY, bare]);

  it('gives a stripped binary the parameters its debug file has', () => {
    expect(readFileSync(stripped).includes('.debug_info')).toBe(false);
    chmodSync(debugFile, 0o644);
    expect(parameters()).toMatchObject({ ok: true, value: [{ name: 'foo1', cType: 'struct Foo*' }, { name: 'foo2', cType: 'struct Foo*' }] });
  });

  it('trusts no debug file another user can write, or that another user owns', () => {
    chmodSync(debugFile, 0o666);
    expect(parameters()).toEqual({ ok: false, error: `${stripped} has no DWARF debug info` });
    chmodSync(debugFile, 0o644);
    chmodSync(dirname(debugFile), 0o777);
    expect(parameters()).toEqual({ ok: false, error: `${stripped} has no DWARF debug info` });
    chmodSync(dirname(debugFile), 0o755);
    chownSync(debugFile, 65534, 65534);
    expect(parameters()).toEqual({ ok: false, error: `${stripped} has no DWARF debug info` });
    chownSync(debugFile, 0, 0);
    expect(parameters().ok).toBe(true);
  });

  it("lists and attaches to the functions only the debug file's symbol table has, at the binary's own offsets", async () => {
    const system = new RealSystem({ tracefs: false, debugDir });
    const own = realSystem().symbols(BINARY);
    const found = system.symbols(bare);
    if (!own.ok || !found.ok) throw new Error('no symbols');
    expect(realSystem().symbols(bare)).toMatchObject({ ok: true, value: expect.not.arrayContaining([expect.objectContaining({ name: 'function2' })]) });
    expect(found.value.find((f) => f.name === 'function2')).toEqual(own.value.find((f) => f.name === 'function2'));
    const v = randomValues();
    const child = spawn(bare, ['loop', String(v.n), String(v.a), v.b, String(v.u8), String(v.s16), String(v.u64), v.label], { stdio: 'ignore' });
    children.push(child);
    const r = await compileScript(`uprobe:${bare}:function2 /pid == $1/ { printf("%d %s\\n", args->foo1->a, args->foo1->b); exit(); }`, 'bare.bt', {
      positional: [String(child.pid)],
      unsafe: false,
      system,
    });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    const c = collector();
    await runSession(r.compiled.plan, r.compiled.object!, { signals: false, output: createOutput({ format: 'text', write: c.write, writeError: c.writeError }) });
    expect(c.text()).toContain(`${v.a} ${v.b}\n`);
  }, 60_000);
});
