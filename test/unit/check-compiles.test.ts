// Whatever `kafkatrace check` accepts compiles: the code generator reports nothing the front end
// let through, and on a script the front end rejects it reports exactly what the front end does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import { frontend } from '../../src/frontend/index.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';
import { CONSTRUCTS, POSITIONAL } from '../fixtures/codegen/constructs.js';

const env = { positional: POSITIONAL, unsafe: true, system: new FakeSystem() };

/** Scripts near the edges of what the kernel side compiles: host look-ups, trampolines, memory values. */
const EDGES = [
  'fexit:vfs_read { @ = retval; }',
  'fentry:vfs_read { @[func] = count(); }',
  'fexit:vfs_read { @[func] = count(); }',
  'kprobe:vfs_read { @[func] = count(); }',
  'BEGIN { signal("SIGFOO"); }',
  'BEGIN { signal("KILL"); }',
  'kprobe:vfs_read { @x = kaddr("nosuch"); }',
  't:syscalls:sys_enter_read { @ = cgroupid("/nonexistent"); }',
  'BEGIN { @a = count(); @a = 1; }',
  'BEGIN { @a = "x"; @a += 1; }',
  'BEGIN { @a = "x"; @a++; }',
  'BEGIN { @s = "x"; @s = count(); }',
  'BEGIN { @x[1] = stats(1); for ($kv : @x) { } }',
  'BEGIN { @x[1] = stats(1); @y = @x[1]; }',
  'BEGIN { @x[1] = avg(1); @y = @x[1]; }',
  'BEGIN { @x[1] = hist(1); for ($kv : @x) { } }',
  't:syscalls:sys_enter_read { @x = sizeof(int32); @y = sizeof(comm); }',
  'BEGIN { $t = (1, comm); print($t); }',
  'BEGIN { @m[1] = 1; print(@m[1]); }',
  'BEGIN { @u = usym(1); }',
  'BEGIN { @b = buf(comm); }',
  't:syscalls:sys_enter_openat { @[str(args.filename, args.flags)] = count(); }',
  'BEGIN { @ = *(uint8*)0; }',
  'BEGIN { $s = username; @[$s] = count(); }',
  'BEGIN { if (comm == probe) { } }',
  'BEGIN { $t = pid ? (1, "a") : (2, "bc"); @[$t] = count(); }',
  'BEGIN { @a[1] = count(); @b = @a[1] ? 1 : 0; }',
  'BEGIN { @x[1] = min(1); for ($kv : @x) { } }',
  'BEGIN { $x = 1; unroll(2) { $x++; } }',
  'BEGIN { @x[1] = 1; for ($kv : @x) { break; } }',
  'BEGIN { @x[1] = 1; for ($kv : @x) { for ($k2 : @x) { continue; } } }',
  'BEGIN { $x = ustack; @[$x] = count(); }',
  'BEGIN { @[ustack(3)] = count(); }',
  'uprobe:bash:readline { @[ustack(3), kstack(2)] = count(); }',
  'BEGIN { @x = ntop(2, 0x0100007f); }',
  't:tcp:tcp_retransmit_skb { @x = ntop(args.saddr); @y = ntop(args.saddr_v6); @z = ntop(args.family, args.saddr); }',
  't:sched:sched_process_exec { @[args.filename] = count(); $f = args.filename; @x = args.pid; }',
  't:sched:sched_switch { @[args.prev_comm] = count(); @y[args.next_comm, args.prev_pid] = count(); }',
  'BEGIN { @x = (int8)1; $y = (uint16)-1; @z = $y; }',
  'rawtracepoint:sched_switch { @ = arg1; }',
  'uprobe:bash:readline { @x = sarg0; @y = arg5; @z = arg6; }',
  'uretprobe:bash:readline { @x = retval; @y[func] = count(); }',
  'usdt:libc:libc:setjmp { @x = arg0; }',
  'profile:hz:99 { @[kstack] = count(); }',
  'software:cpu-clock:1000 { @x = count(); }',
  'interval:s:1 { print(@x); }',
  'BEGIN { @x = strncmp(comm, "a", 100); @y = strcontains(comm, "ab"); }',
  'BEGIN { @x = has_key(@y, 1); @y[1] = 1; }',
  'BEGIN { $a = 1; $a <<= 2; $a /= 0 + $a; @ = $a; }',
  'BEGIN { exit(3); }',
  'BEGIN { join(0); }',
  'BEGIN { time("%H"); cat("/etc/x"); system("ls"); }',
  'BEGIN { @x[1] = 1; delete(@x, 1); clear(@x); zero(@x); }',
  'BEGIN { @x = 1; print(@x, 1, 2); }',
  'BEGIN { $x = "abc"; $x = "abcdef"; @[$x] = count(); }',
  'BEGIN { @ = $#; @y = str($2); }',
  't:syscalls:sys_enter_read { @x = args.count; @y = args.buf; @[str(args.buf, 10)] = count(); @b = buf(args.buf, 10); }',
  't:syscalls:sys_enter_write { $b = buf(args.buf, 4); @[ntop($b)] = count(); }',
  'BEGIN { @x = uaddr("x"); }',
  'uprobe:bash:readline { @x = uaddr("nosuch"); }',
  'uprobe:bash:readline, uprobe:libc:malloc { @x = uaddr("x"); }',
  'BEGIN { $x = (1, (2, "a")); @x = $x.1.1; }',
  'kprobe:vfs_read { @x = kaddr("init_task"); @y = kaddr("jiffies") + 8; }',
  'uprobe:bash:readline { @x = uaddr("ps1_prompt"); printf("%s\\n", str(*uaddr("ps1_prompt"))); }',
  't:syscalls:sys_enter_read /cgroup == cgroupid("/sys/fs/cgroup/system.slice")/ { @[cgroupid("/sys/fs/cgroup")] = count(); }',
  'kafka:produce /cgroup == cgroupid("/sys/fs/cgroup/system.slice")/ { @ = count(); }',
  'BEGIN { signal("SIGUSR1"); signal("TERM"); signal("sigterm"); signal(pid); }',
  'fentry:vfs_read { @ = count(); } fexit:vfs_read { @[comm] = count(); }',
];

const ONELINERS = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'oneliners', 'bpftrace.txt'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.startsWith('#'));

describe('what check accepts compiles', () => {
  const corpus = [...Object.values(CONSTRUCTS), ...EDGES, ...ONELINERS];

  it('covers scripts the front end accepts and scripts it rejects', () => {
    const accepted = corpus.filter((s) => !frontend(s, 'c.ktr', env).diagnostics.some((d) => d.severity === 'error'));
    expect(accepted.length).toBeGreaterThan(80);
    expect(corpus.length - accepted.length).toBeGreaterThan(20);
  });

  it('the compiler reports exactly what the front end reports', () => {
    const differ: string[] = [];
    for (const source of corpus) {
      const checked = frontend(source, 'c.ktr', env).diagnostics;
      const planned = planScript(source, 'c.ktr', env);
      const ok = !checked.some((d) => d.severity === 'error');
      if (planned.ok !== ok || JSON.stringify(planned.diagnostics) !== JSON.stringify(checked)) {
        differ.push(`${source}\n  check: ${checked.map((d) => d.message).join('; ')}\n  compile: ${planned.diagnostics.map((d) => d.message).join('; ')}`);
      }
    }
    expect(differ).toEqual([]);
  });
});
