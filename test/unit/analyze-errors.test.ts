import { describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import { frontend } from '../../src/frontend/index.js';
import { attachName } from '../../src/frontend/analysis.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

const system = new FakeSystem();

function diagnose(source: string, opts: { positional?: string[]; unsafe?: boolean } = {}) {
  const r = frontend(source, 'err.ktr', { positional: opts.positional ?? [], unsafe: opts.unsafe ?? false, system });
  return r.diagnostics.map((d) => ({ at: `${d.loc.line}:${d.loc.col}`, message: d.message, hint: d.hint }));
}

/** [script, line:col of the error, a substring of its message, a substring of its hint]. */
type Case = [string, string, string, string?];

const CASES: Record<string, Case> = {
  // Providers and attach points.
  'unknown provider': ['tracepont:syscalls:sys_enter_openat { }', '1:1', "unknown probe provider 'tracepont'", "did you mean 'tracepoint'?"],
  'tracepoint not found': ['BEGIN { }\nt:syscalls:sys_enter_opnat { }', '2:1', 'tracepoint not found: syscalls:sys_enter_opnat', "'syscalls:sys_enter_openat'"],
  'tracepoint wildcard matching nothing': ['t:syscalls:sys_enter_zz* { }', '1:1', 'no tracepoint matches syscalls:sys_enter_zz*'],
  'tracepoint without a name': ['tracepoint:syscalls { }', '1:1', 'tracepoint probes need a category and a name'],
  'profile unit': ['profile:hx:99 { }', '1:1', "unknown profile unit 'hx' (expected hz, s, ms or us)", "'hz'"],
  'interval count': ['interval:s:abc { }', '1:1', "interval count must be a positive integer, got 'abc'"],
  'interval without count': ['interval:s { }', '1:1', 'interval probes need a unit and a count'],
  'software event': ['software:cpu-clok:100 { }', '1:1', "unknown software event 'cpu-clok'", "'cpu-clock'"],
  'hardware period': ['hardware:cycles:0 { }', '1:1', "hardware event period must be a positive integer, got '0'"],
  'uprobe without function': ['uprobe:bash { }', '1:1', 'uprobe probes need a binary and a function'],
  'uprobe binary missing': ['uprobe:/no/such/bin:main { }', '1:1', 'binary not found: /no/such/bin'],
  'uprobe function missing': ['uprobe:bash:readlin { }', '1:1', "function 'readlin' not found in /usr/bin/bash", "'readline'"],
  'uprobe wildcard matching nothing': ['uprobe:libc:zz* { }', '1:1', 'no function of /usr/lib/x86_64-linux-gnu/libc.so.6 matches zz*'],
  'uretprobe offset': ['uretprobe:bash:readline+4 { }', '1:1', 'uretprobe cannot take an offset'],
  'uprobe address in no function': ['uprobe:bash:10 { }', '1:1', 'Could not resolve address: bash:0xa'],
  'uprobe offset past the function': ['uprobe:bash:readline+64 { }', '1:1', "Offset outside the function bounds ('readline' size is 64)"],
  'usdt probe missing': ['usdt:libc:libc:setjmpp { }', '1:1', "USDT probe 'libc:setjmpp' not found", "'libc:setjmp'"],
  'kretprobe offset': ['kretprobe:vfs_read+8 { }', '1:1', 'kretprobe cannot take an offset'],
  // bpftrace 0.17's checks, made before any attach, with its messages.
  'kprobe with two parts': ['kprobe:syscalls:sys_exit_nanosleep { }', '1:1', 'kprobe probe type requires 1 argument', 'kprobe:FUNCTION[+OFFSET]'],
  'kretprobe with two parts': ['kretprobe:syscalls:sys_exit_nanosleep { }', '1:1', 'kretprobe probe type requires 1 argument', 'kretprobe:FUNCTION'],
  'banned kretprobe': ['BEGIN { }\nkretprobe:_raw_spin_lock_irqsave { }', '2:1', "error: kretprobe:_raw_spin_lock_irqsave can't be used as it might lock up your system."],
  'banned kretprobe in a wildcard': ['kretprobe:queued_spin_lock_slow* { }', '1:1', "error: kretprobe:queued_spin_lock_slowpath can't be used as it might lock up your system."],
  // Watchpoints: bpftrace 0.17's semantic checks, in its words.
  'watchpoint with two parts': ['watchpoint:0x1000:8 { }', '1:1', 'watchpoint probe type requires 3 arguments'],
  'watchpoint at address 0': ['watchpoint:0:8:w { }', '1:1', 'watchpoint must be attached to a non-zero address'],
  'watchpoint length': ['watchpoint:0x1000:3:w { }', '1:1', 'watchpoint length must be one of (1,2,4,8)'],
  'watchpoint mode': ['watchpoint:0x1000:8:wq { }', '1:1', 'watchpoint mode must be combination of (r,w,x)'],
  'watchpoint mode twice': ['watchpoint:0x1000:8:ww { }', '1:1', 'watchpoint modes may not be duplicated'],
  'watchpoint mode x86 cannot watch': ['watchpoint:0x1000:8:xw { }', '1:1', 'invalid watchpoint mode: wx'],
  'asyncwatchpoint on an address': ['asyncwatchpoint:0x1000:8:w { }', '1:1', 'asyncwatchpoint requires a function name'],
  'watchpoint on an argument without a process': ['watchpoint:readline+arg0:8:w { }', '1:1', '-p PID or -c CMD required for watchpoint'],
  'watchpoint on no argument': ['watchpoint:readline+ar0:8:w { }', '1:1', 'Invalid function argument'],
  'watchpoint on two arguments': ['watchpoint:readline+arg0+arg1:8:w { }', '1:1', 'Invalid function/address argument'],
  'fentry function missing': ['fentry:vfs_reed { }', '1:1', 'kernel function not found in BTF: vfs_reed', "'vfs_read'"],
  'rawtracepoint missing': ['rawtracepoint:sched_swich { }', '1:1', 'raw tracepoint not found: sched_swich', "'sched_switch'"],
  'kafka probe unknown': ['kafka:prodce { }', '1:1', "unknown kafka probe 'prodce'", "'produce'"],
  'kafka mixed with kernel probes': ['kafka:produce, tracepoint:sched:sched_switch { }', '1:16', 'cannot share a block with kernel probes'],
  'kafka map shared with a kernel probe': ['kafka:produce { @n = count(); }\nt:syscalls:sys_enter_openat { @n = count(); }', '1:17', '@n is used by kafka probes, which run in user space, and by kernel probes', 'only interval and END blocks can share maps'],
  'interval block sharing a kafka map and a kernel one': ['kafka:produce { @n = count(); }\nt:syscalls:sys_enter_openat { @k = count(); }\ninterval:s:1 { print(@n); print(@k); }', '2:31', '@k is used by kafka probes'],

  // Builtins.
  'unknown builtin': ['BEGIN { printf("%s\\n", comn); }', '1:24', "unknown identifier 'comn'", "'comm'"],
  'retval outside return probes': ['kprobe:vfs_read { @ = retval; }', '1:23', 'retval is only available in kretprobe, uretprobe, fexit probes, not in kprobe'],
  'arg0 in a tracepoint': ['t:syscalls:sys_enter_read { @ = arg0; }', '1:33', 'arg0 is only available in kprobe, uprobe, usdt, rawtracepoint probes, not in tracepoint'],
  'arg9 beyond registers': ['kprobe:vfs_read { @ = arg9; }', '1:23', 'only arg0 to arg5 are passed in registers'],
  'args in a uprobe on a binary without debug info': ['uprobe:bash:readline { @ = args.x; }', '1:28', 'args.x needs the parameters of readline: /usr/bin/bash has no DWARF debug info'],
  'args in a uretprobe': ['uretprobe:/opt/app/server:handle { @ = args.fd; }', '1:40', 'args is only available in tracepoint, uprobe, fentry, fexit and kafka probes, not in uretprobe (a uprobe on the function has them)'],
  'uprobe arg missing': ['uprobe:/opt/app/server:handle { @ = args.fdd; }', '1:37', "handle has no parameter 'fdd'", "did you mean 'fd'?"],
  'uprobe arg of a type not read': ['uprobe:/opt/app/server:handle { @ = args.ratio; }', '1:37', 'cannot read args.ratio (double): its type double is not an integer'],
  'uprobe arg past the registers': ['uprobe:/opt/app/server:wide { @ = args.g; }', '1:35', 'cannot read args.g: it is parameter 7, and only the first 6 are passed in registers on x86-64'],
  'uprobe args of functions that differ': ['uprobe:/opt/app/server:handle, uprobe:/opt/app/server:main { @ = args.fd; }', '1:66', "main has no parameter 'fd' (this block attaches to 2 functions; all must have it)"],
  'uprobe args beside a tracepoint': ['uprobe:/opt/app/server:handle, t:syscalls:sys_enter_read { @ = args.fd; }', '1:64', 'args in a block of uprobe and tracepoint probes: give each its own block'],
  'member the DWARF struct lacks': ['uprobe:/opt/app/server:handle { @ = args.req->nope; }', '1:37', "struct Request has no member 'nope'"],
  'args without a field': ['t:syscalls:sys_enter_read { @ = args; }', '1:33', 'args must be followed by a field'],
  'func in a tracepoint': ['t:sched:sched_switch { @[func] = count(); }', '1:26', 'func is only available in'],
  'kafka arg without args.': ['kafka:produce { @[topic] = count(); }', '1:19', "unknown identifier 'topic'", "did you mean 'args.topic'?"],
  'uid in a kafka probe': ['kafka:produce { @[uid] = count(); }', '1:19', 'uid is not available in kafka probes'],

  // Args fields.
  'tracepoint field missing': ['t:syscalls:sys_enter_openat { @[str(args.filenam)] = count(); }', '1:37', "tracepoint syscalls:sys_enter_openat has no field 'filenam'", "'filename'"],
  'field missing in one of several tracepoints': ['t:syscalls:sys_enter_open* { @[args.dfd] = count(); }', '1:32', "tracepoint syscalls:sys_enter_open has no field 'dfd' (this block matches 2 tracepoints"],
  'kafka arg missing': ['kafka:produce { @[args.topc] = count(); }', '1:19', "kafka:produce has no arg 'topc'", "'topic'"],
  'kafka arg missing in a wildcard': ['kafka:* { @[args.topic] = count(); }', '1:13', "kafka:request has no arg 'topic'"],

  // Functions.
  'unknown function': ['BEGIN { printff("x"); }', '1:9', "unknown function 'printff'", "'printf'"],
  'printf argument count': ['BEGIN { printf("%d %d\\n", 1); }', '1:9', 'printf(): the format has 2 conversions but 1 argument was given'],
  'printf %d with a string': ['BEGIN { printf("%d\\n", comm); }', '1:24', '%d expects an integer, but the argument is string[16] (use %s)'],
  'printf %s with an integer': ['BEGIN { printf("%s\\n", pid); }', '1:24', '%s expects a string, but the argument is uint64 (use %d)'],
  'printf invalid specifier': ['BEGIN { printf("%q\\n", 1); }', '1:16', "invalid format specifier '%q'"],
  'printf format not a literal': ['BEGIN { printf(comm); }', '1:16', 'the format of printf() must be a string literal'],
  'system without --unsafe': ['BEGIN { system("ls"); }', '1:9', 'system() is unsafe: pass --unsafe to allow it'],
  'signal without --unsafe': ['kprobe:vfs_read { signal("SIGKILL"); }', '1:19', 'signal() is unsafe: pass --unsafe to allow it'],
  'str arity': ['BEGIN { @ = str(1, 2, 3); }', '1:13', 'str() takes 1 to 2 arguments, got 3: str(ptr[, length])'],
  'count() not assigned': ['BEGIN { count(); }', '1:9', 'count() must be assigned to a map'],
  'count() with an argument': ['BEGIN { @c = count(1); }', '1:14', 'count() takes 0 arguments, got 1'],
  'sum() of a string': ['BEGIN { @s = sum(comm); }', '1:18', 'sum() takes an integer, but the argument is string[16]'],
  'lhist bounds not literal': ['BEGIN { @l = lhist(pid, 0, pid, 10); }', '1:28', 'lhist() bounds must be integer literals'],
  'lhist max below min': ['BEGIN { @l = lhist(pid, 10, 5, 1); }', '1:29', 'lhist() max (5) must be greater than min (10)'],
  'kstack in a kafka probe': ['kafka:produce { @[kstack()] = count(); }', '1:19', 'kstack() is not available in kafka probes'],
  'printf has no value': ['BEGIN { $x = printf("x"); }', '1:14', 'printf() returns no value'],
  'kstack limit': ['kprobe:vfs_read { @[kstack(500)] = count(); }', '1:28', 'kstack() limit must be an integer literal from 1 to 127'],
  'delete of a non-map': ['BEGIN { delete(pid); }', '1:16', 'delete() takes a map entry'],
  'clear with keys': ['BEGIN { @a[1] = 1; clear(@a[1]); }', '1:26', 'clear() acts on a whole map'],
  'exit with a string': ['BEGIN { exit("x"); }', '1:14', 'argument 1 of exit() must be an integer, but it is string[2]'],
  'uaddr outside uprobes': ['kprobe:vfs_read { @ = uaddr("x"); }', '1:23', 'uaddr() is only available in uprobe'],
  'override': ['kprobe:vfs_read { override(1); }', '1:19', 'override() is not supported'],
  'strncmp of integers': ['BEGIN { @ = strncmp(pid, "a", 1); }', '1:21', 'argument 1 of strncmp() must be a string'],

  // Maps.
  'map kinds mixed': ['BEGIN { @a = count(); }\nEND { @a = sum(1); }', '2:12', '@a is used with sum() here but with count() at 1:14'],
  'map key arity mixed': ['BEGIN { @a[1] = 1; @a[1, 2] = 2; }', '1:20', '@a is used with 2 keys here but with 1 key at 1:9'],
  'map key type mixed': ['BEGIN { @a[1] = 1; @a["x"] = 2; }', '1:23', 'key 1 of @a is string[2] here but int64 at 1:9'],
  'map value type mixed': ['BEGIN { @a = 1; @a = "x"; }', '1:22', '@a holds int64 (defined at 1:14); it cannot be assigned string[2]'],
  'undefined map': ['BEGIN { @total = 1; printf("%d\\n", @totl); }', '1:36', 'undefined map @totl', "'@total'"],
  'hist value in an expression': ['BEGIN { @h = hist(1); @x = @h; }', '1:28', 'the value of @h, a hist() map, cannot be used in an expression'],

  // Variables, types, statements.
  'variable used before assignment': ['BEGIN { @ = $x + 1; }', '1:13', '$x used before assignment'],
  'variable changes type': ['BEGIN { $x = 1; $x = "s"; }', '1:22', '$x holds int64 (first assigned at 1:9); it cannot be assigned string[2]'],
  'string arithmetic': ['BEGIN { @ = comm + 1; }', '1:13', "'+' needs integers, but the operands are string[16] and int64"],
  'string ordering': ['BEGIN { @ = comm < "a"; }', '1:13', "strings can only be compared with == and !=, not '<'"],
  'string compared with an integer': ['BEGIN { @ = comm == 1; }', '1:13', "cannot compare string[16] with int64 using '=='"],
  'string predicate': ['BEGIN /comm/ { }', '1:8', 'the predicate must be an integer condition, but it is string[16]'],
  'string if condition': ['BEGIN { if (comm) { } }', '1:13', 'the if condition must be an integer, but it is string[16]'],
  'break outside a loop': ['BEGIN { break; }', '1:9', 'break outside of a loop'],
  'unroll count from a positional parameter out of range': ['BEGIN { unroll($1) { } }', '1:16', 'unroll maximum value is 100'],
  'unroll count below one': ['BEGIN { unroll(0) { } }', '1:16', 'unroll minimum value is 1'],
  'tuple index out of range': ['BEGIN { $t = (1, 2); @ = $t.2; }', '1:26', 'tuple index 2 is out of range for a tuple of 2 elements'],
  'cast to an unknown type': ['BEGIN { @ = (uint33)pid; }', '1:13', "unknown type 'uint33' in cast", "'uint32'"],
  'cast of a string': ['BEGIN { @ = (uint32)comm; }', '1:13', 'cannot cast string[16] to uint32'],
  'division by zero': ['BEGIN { @ = pid / 0; }', '1:19', 'division by zero'],
  'ternary branch types': ['BEGIN { @ = pid ? 1 : "x"; }', '1:13', 'the branches of ?: have different types: int64 and string[2]'],
  'field access on a variable': ['BEGIN { $x = 1; @ = $x.foo; }', '1:21', "'.' needs args, a struct or union, but the value is int64", '((struct NAME *)value).foo'],

  // Pointers and sizeof().
  'pointer times an integer': ['BEGIN { $p = (int32 *)32; @ = (uint64)($p * 2); }', '1:40', "'*' cannot be used on a pointer (int32 *)", '(uint64)'],
  'integer minus a pointer': ['BEGIN { $p = (int32 *)32; @ = (uint64)(100 - $p); }', '1:40', "'-' cannot be used on a pointer (int32 *): only pointer + integer and pointer - integer"],
  'pointer minus a pointer': ['BEGIN { $p = (int32 *)32; @ = (uint64)($p - $p); }', '1:40', "'-' cannot be used on two pointers (int32 *, int32 *)"],
  'pointer *= ': ['BEGIN { $p = (int32 *)32; $p *= 2; }', '1:33', "'*=' cannot be used on a pointer (int32 *)"],
  'print of a pointer': ['BEGIN { $p = (int8 *)1; print($p); }', '1:31', 'print() cannot print a pointer (int8 *)'],
  'pointer condition': ['BEGIN { $p = (int8 *)1; if ($p) { } }', '1:29', 'the if condition must be an integer, but it is int8 *'],
  'integer assigned to a pointer variable': ['BEGIN { $p = (int8 *)1; $p = 2; }', '1:30', '$p holds int8 * (first assigned at 1:9); it cannot be assigned int64'],
  'sum of pointers': ['BEGIN { @s = sum((int8 *)1); }', '1:18', 'sum() takes an integer, but the argument is int8 *'],
  'arithmetic on a struct BTF lacks': ['BEGIN { $p = (struct nosuch *)0; @ = (uint64)($p + 1); }', '1:47', "arithmetic on struct nosuch * needs the size of struct nosuch, which is unknown: the kernel's BTF has no struct nosuch"],
  'indexing an integer': ['BEGIN { $x = 1; @ = $x[0]; }', '1:21', 'indexing with [] is only supported on maps (@name[key]), arrays and pointers, but the value is int64'],
  'a whole struct whose members BTF lacks': ['BEGIN { $p = (struct timespec64 *)0; @ = *$p; }', '1:42', "cannot read a whole struct timespec64: the kernel's BTF has no struct timespec64"],
  'a constant index past an array': ['struct B { int y[2]; } BEGIN { @ = ((struct B *)0)->y[2]; }', '1:55', 'the index 2 is out of bounds for array of size 2'],
  'a member a struct value lacks': ['struct B { int a; } BEGIN { $b = *(struct B *)0; @ = $b.x; }', '1:54', "struct B has no member 'x'"],

  // Struct and union members (BTF).
  'unknown member': ['BEGIN { @ = curtask->pidd; }', '1:13', "struct task_struct has no member 'pidd'", "did you mean 'pid'?"],
  "'->' on a struct": ['BEGIN { @ = (*curtask)->pid; }', '1:13', "cannot access member 'pid' of struct task_struct with '->': it is not a pointer; use '.'"],
  "'.' on a pointer": ['BEGIN { @ = curtask.pid; }', '1:13', "cannot access member 'pid' of struct task_struct * with '.': it is a pointer; use '->'"],
  "'->' on an integer": ['BEGIN { @ = pid->x; }', '1:13', "'->' needs args, a struct or union pointer, but the value is uint64", '((struct NAME *)value)->x'],
  "'->' on a pointer to an integer": ['BEGIN { $p = (int32 *)0; @ = $p->x; }', '1:30', "'->' needs args, a struct or union pointer, but the value is int32 *"],
  "error in the script's C": ['BEGIN { }\nstruct Foo { int x; nosuch y; }', '2:21', "unknown type name 'nosuch'"],
  'member of a struct BTF lacks': ['BEGIN { $p = (struct nosuch *)0; @ = $p->x; }', '1:38', "cannot read members of struct nosuch: the kernel's BTF has no struct nosuch"],
  'cast to a struct value': ['BEGIN { @ = (struct timespec64)1; }', '1:13', 'cannot cast to struct timespec64: casts take integer and pointer types'],
  'cast to an enum pointer': ['BEGIN { @ = (enum foo *)1; }', '1:13', 'enum types are not supported in casts yet'],
  'pointer in a kafka probe': ['kafka:produce { @[(uint64)(int8 *)args.partition] = count(); }', '1:27', 'pointers are not available in kafka probes'],
  'reg() in BEGIN': ['BEGIN { @ = reg("ip"); }', '1:13', 'reg() reads the registers of kprobe, kretprobe, uprobe, uretprobe, usdt, profile, software, hardware probes, not of BEGIN probes'],
  'reg() of no register': ['profile:hz:99 { @ = reg("rip"); }', '1:25', "'rip' is not a register of x86-64", "'ip'"],
  'bswap() of a string': ['BEGIN { @ = bswap(comm); }', '1:19', 'argument 1 of bswap() must be an integer, but it is string[16]'],
  'debugf() conversion bpf_trace_printk lacks': ['BEGIN { debugf("%o", 1); }', '1:16', 'debugf(): bpf_trace_printk has no %o'],
  'debugf() of a stack': ['BEGIN { debugf("%s", kstack); }', '1:22', 'debugf() prints integers and strings, but the argument is kstack'],
  'ctx in BEGIN': ['BEGIN { @ = ctx; }', '1:13', 'ctx is only available in tracepoint, rawtracepoint'],
  'cpid without -c': ['BEGIN { @ = cpid; }', '1:13', 'cpid cannot be used without child command'],
  'uptr() of a string': ['BEGIN { @ = uptr(comm); }', '1:18', 'uptr() takes an address, but the argument is string[16]'],
  'pton() of no address': ['BEGIN { @ = pton("1.2.3"); }', '1:18', "pton() expects a valid IPv4 or IPv6 address, got '1.2.3'"],
  'printf %s of pton()': ['BEGIN { printf("%s", pton("1.2.3.4")); }', '1:22', '%s expects a string, but the argument is uint8[4]'],
  'macaddr() of 4 bytes': ['BEGIN { printf("%s", macaddr(pton("1.2.3.4"))); }', '1:30', 'macaddr() takes an address or 6 bytes, but the argument is uint8[4]'],
  'sizeof a struct BTF lacks': ['BEGIN { @ = sizeof(struct nosuch); }', '1:20', "sizeof: the kernel's BTF has no struct nosuch"],
};

describe('analysis errors', () => {
  it('has at least 45 distinct cases', () => {
    expect(Object.keys(CASES).length).toBeGreaterThanOrEqual(45);
    expect(new Set(Object.values(CASES).map((c) => c[2])).size).toBe(Object.keys(CASES).length);
  });

  for (const [name, [source, at, message, hint]] of Object.entries(CASES)) {
    it(name, () => {
      const diags = diagnose(source, { positional: name === 'unroll count from a positional parameter out of range' ? ['101'] : [] });
      expect(diags, JSON.stringify(diags)).toHaveLength(1);
      expect(diags[0]!.message).toContain(message);
      expect(diags[0]!.at).toBe(at);
      if (hint) expect(diags[0]!.hint).toContain(hint);
    });
  }

  it('reports every error of a script, in source order', () => {
    const source = [
      'tracepoint:syscalls:sys_enter_opnat { @a = count(); }',
      'BEGIN { @a = sum(comm); printf("%d\\n"); }',
      'kafka:fetch { @lag[args.topc] = max(args.lag); }',
      'END { $y = $z; print(@nosuch); }',
    ].join('\n');
    const diags = diagnose(source);
    expect(diags.map((d) => d.at)).toEqual(['1:1', '2:18', '2:25', '3:20', '4:12', '4:22']);
    expect(diags[0]!.message).toContain('tracepoint not found');
    expect(diags[1]!.message).toContain('sum() takes an integer');
    expect(diags[2]!.message).toContain('the format has 1 conversion but 0 arguments were given');
    expect(diags[3]!.message).toContain("kafka:fetch has no arg 'topc'");
    expect(diags[4]!.message).toContain('$z used before assignment');
    expect(diags[5]!.message).toContain('undefined map @nosuch');
  });

  it('allows system() and signal() with --unsafe', () => {
    expect(diagnose('kprobe:vfs_read { signal("SIGKILL"); system("echo %d", pid); }', { unsafe: true })).toEqual([]);
  });
});

/**
 * Mistakes that once passed `check` and failed at compile: the front end reports them now, and the
 * compiler adds nothing to what it reports. [script, line:col, message, hint].
 */
const COMPILE_TIME: Record<string, Case> = {
  'unknown signal name': ['kprobe:vfs_read { signal("SIGFOO"); }', '1:26', `signal(): 'SIGFOO' is not a signal name like "SIGKILL"`],
  'misspelt signal name': ['BEGIN { signal("SIGKIL"); }', '1:16', `signal(): 'SIGKIL' is not a signal name`, "did you mean 'SIGKILL'?"],
  'kaddr of a missing symbol': ['BEGIN { @ = kaddr("no_such_symbol"); }', '1:19', 'kaddr(): Failed to resolve kernel symbol: no_such_symbol'],
  'kaddr of a missing symbol given as str($1)': ['BEGIN { @ = kaddr(str($1)); }', '1:19', 'kaddr(): Failed to resolve kernel symbol: ', undefined],
  'uaddr of a missing data symbol': ['uprobe:bash:readline { @ = uaddr("no_such_var"); }', '1:34', "uaddr(): no data symbol 'no_such_var' in /usr/bin/bash"],
  'uaddr in a probe on two binaries': ['uprobe:bash:readline, uprobe:libc:malloc { @ = uaddr("environ"); }', '1:54', 'uaddr() needs its probe to attach to one binary; this one attaches to 2'],
  'cgroupid of a missing cgroup': ['t:syscalls:sys_enter_read { @ = cgroupid("/sys/fs/cgroup/nosuch"); }', '1:42', 'cgroupid(): cannot read /sys/fs/cgroup/nosuch: ENOENT'],
  'cgroupid of a missing cgroup in a kafka probe': ['kafka:produce { @ = cgroupid("/sys/fs/cgroup/nosuch"); }', '1:30', 'cgroupid(): cannot read /sys/fs/cgroup/nosuch: ENOENT'],
  'retval in fexit': ['fexit:vfs_read { @ = retval; }', '1:22', 'retval is not supported in fexit probes yet'],
  'func in fentry': ['fentry:vfs_read { @[func] = count(); }', '1:21', 'func is not supported in fentry probes yet'],
};

describe('compile-time mistakes caught by the front end', () => {
  for (const [name, [source, at, message, hint]] of Object.entries(COMPILE_TIME)) {
    it(name, () => {
      const env = { positional: [], unsafe: true, system };
      const diags = frontend(source, 'err.ktr', env).diagnostics;
      expect(diags.map((d) => d.message), JSON.stringify(diags)).toHaveLength(1);
      expect(diags[0]!.message).toContain(message);
      expect(`${diags[0]!.loc.line}:${diags[0]!.loc.col}`).toBe(at);
      if (hint) expect(diags[0]!.hint).toContain(hint);
      expect(planScript(source, 'err.ktr', env)).toEqual({ ok: false, diagnostics: diags });
    });
  }

  it('leaves out, with a warning, a uprobe on a function the binary lacks when other probes remain (bpftrace runs without it)', () => {
    const env = { positional: [], unsafe: false, system };
    const r = planScript('uprobe:bash:readlin, uprobe:bash:readline { }\nBEGIN { }', 'err.ktr', env);
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    expect(r.compiled.plan.probes[0]!.skipped).toEqual(["uprobe:bash:readlin: function 'readlin' not found in /usr/bin/bash, skipping"]);
    expect(r.compiled.plan.probes[0]!.programs.flatMap((p) => p.attach)).toMatchObject([{ type: 'uprobe', symbol: 'readline' }]);
    expect(r.compiled.plan.probes[1]!.skipped).toBeUndefined();
    // The block's only attach point, with BEGIN left: the same.
    const alone = planScript('uprobe:bash:readlin { }\nBEGIN { }', 'err.ktr', env);
    expect(alone.ok && alone.compiled.plan.probes[0]!.skipped).toEqual(["uprobe:bash:readlin: function 'readlin' not found in /usr/bin/bash, skipping"]);
  });

  it("leaves out, with bpftrace's warning, a kprobe a block reading `probe` expands to no kernel function, when other probes remain", () => {
    const env = { positional: [], unsafe: false, system };
    const r = planScript('kprobe:zzzzz { probe; printf("asdf\\n") } BEGIN { exit() }', 'err.ktr', env);
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    expect(r.compiled.plan.probes[0]!.skipped).toEqual(['kprobe:zzzzz: zzzzz is not traceable (either non-existing, inlined, or marked as "notrace"), skipping']);
    expect(r.compiled.plan.probes[0]!.programs.flatMap((p) => p.attach)).toEqual([]);
    // Alone, it is the error; without `probe`, the kprobe stays for the kernel to accept or refuse.
    const alone = planScript('kprobe:zzzzz { probe; }', 'err.ktr', env);
    expect(!alone.ok && alone.diagnostics.map((d) => d.message)).toEqual(['zzzzz is not traceable (either non-existing, inlined, or marked as "notrace")']);
    const kept = planScript('kprobe:zzzzz { printf("asdf\\n") } BEGIN { exit() }', 'err.ktr', env);
    expect(kept.ok && kept.compiled.plan.probes[0]!.programs.flatMap((p) => p.attach)).toMatchObject([{ type: 'kprobe', func: 'zzzzz' }]);
  });

  it('takes cpid when -c gives a command', () => {
    expect(frontend('BEGIN { @ = cpid; }', 'ok.ktr', { positional: [], unsafe: false, child: true, system }).diagnostics).toEqual([]);
  });

  it('takes kaddr(str($1)) as kaddr of the parameter, as bpftrace does', () => {
    expect(diagnose('BEGIN { @ = kaddr(str($1)); }', { positional: ['init_task'] })).toEqual([]);
  });

  it('attaches a uprobe at an address to the function holding it, as bpftrace does', () => {
    const r = planScript('uprobe:bash:0xc6c28 { }', 'err.ktr', { positional: [], unsafe: false, system });
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    expect(r.compiled.plan.probes[0]!.programs.flatMap((p) => p.attach)).toEqual([{ type: 'uprobe', binary: '/usr/bin/bash', symbol: 'readline', offset: 0xc6c28 - 0x1000 }]);
  });

  it('kaddr of a symbol whose address the kernel hides from this user', () => {
    const env = { positional: [], unsafe: false, system: new FakeSystem({ hideKernelAddresses: true }) };
    const diags = frontend('BEGIN { @ = kaddr("init_task"); }', 'err.ktr', env).diagnostics;
    expect(diags.map((d) => [`${d.loc.line}:${d.loc.col}`, d.message])).toEqual([['1:19', 'kaddr(): the address of init_task is hidden: run as root']]);
  });
});

describe('watchpoints on a function argument of the traced process (bash, with -c or -p)', () => {
  const env = { positional: [], unsafe: false, system, tracee: 'bash' };
  const diagnose = (source: string) => frontend(source, 'err.ktr', env).diagnostics.map((d) => ({ at: `${d.loc.line}:${d.loc.col}`, message: d.message, hint: d.hint }));

  it('takes arguments 0 to 5, which x86_64 passes in registers', () => {
    expect(diagnose('watchpoint:readline+arg5:8:w { }')).toEqual([]);
    expect(diagnose('watchpoint:readline+arg6:8:w { }')).toEqual([{ at: '1:1', message: "x86_64 doesn't support arg6", hint: undefined }]);
  });

  it('checks length and mode as for an address', () => {
    expect(diagnose('watchpoint:readline+arg0:3:w { }')[0]?.message).toBe('watchpoint length must be one of (1,2,4,8)');
    expect(diagnose('asyncwatchpoint:readline+arg0:8:r { }')[0]?.message).toBe('invalid watchpoint mode: r');
  });

  it('names a function the program does not have, with the nearest one', () => {
    expect(diagnose('watchpoint:readlin+arg0:8:w { }')).toEqual([{ at: '1:1', message: "function 'readlin' not found in /usr/bin/bash", hint: "did you mean 'readline'?" }]);
    expect(diagnose('watchpoint:zz*+arg0:8:w { }')[0]?.message).toBe('no function of /usr/bin/bash matches zz*');
  });

  it('resolves each matching function to its file offset, named as bpftrace names the probe', () => {
    const r = frontend('watchpoint:r*+arg1:4:wr { printf("%s\\n", probe); } asyncwatchpoint:readline+arg0:8:w { }', 'w.ktr', env);
    expect(r.diagnostics).toEqual([]);
    expect(r.analysis!.probes.map((p) => p.attach)).toEqual([
      [
        { type: 'argwatchpoint', async: false, binary: '/usr/bin/bash', symbol: 'readline', offset: 0xc5c20, arg: 1, length: 4, mode: 'rw' },
        { type: 'argwatchpoint', async: false, binary: '/usr/bin/bash', symbol: 'rl_getc', offset: 0xc6000, arg: 1, length: 4, mode: 'rw' },
      ],
      [{ type: 'argwatchpoint', async: true, binary: '/usr/bin/bash', symbol: 'readline', offset: 0xc5c20, arg: 0, length: 8, mode: 'w' }],
    ]);
    expect(r.analysis!.probes.flatMap((p) => p.attach.map(attachName))).toEqual([
      'watchpoint:/usr/bin/bash:readline:1:4:rw',
      'watchpoint:/usr/bin/bash:rl_getc:1:4:rw',
      'asyncwatchpoint:/usr/bin/bash:readline:8:w',
    ]);
  });

  it('takes unwatch() of an integer in kernel probes', () => {
    expect(diagnose('watchpoint:readline+arg0:8:w { unwatch(0x1000); }')).toEqual([]);
    expect(diagnose('watchpoint:readline+arg0:8:w { unwatch("a"); }')[0]?.message).toContain('unwatch()');
  });
});
