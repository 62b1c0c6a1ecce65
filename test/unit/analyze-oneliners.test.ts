import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/frontend/diagnostics.js';
import { frontend } from '../../src/frontend/index.js';
import { realSystem } from '../../src/frontend/system.js';

// bpftrace one-liners (tutorial and reference guide style) that use providers this kernel has,
// analyzed against the real machine.
const ONELINERS = [
  'BEGIN { printf("hello world\\n"); }',
  'tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args->filename)); }',
  'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }',
  'tracepoint:syscalls:sys_exit_read /pid == 18644/ { @bytes = hist(args->ret); }',
  'tracepoint:syscalls:sys_exit_read { @bytes = lhist(args->ret, 0, 2000, 200); }',
  'tracepoint:syscalls:sys_enter_read { @start[tid] = nsecs; } tracepoint:syscalls:sys_exit_read /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); delete(@start[tid]); }',
  'tracepoint:sched:sched* { @[probe] = count(); } interval:s:5 { exit(); }',
  'profile:hz:99 { @[kstack] = count(); }',
  'profile:hz:99 /pid == 189/ { @[ustack] = count(); }',
  'tracepoint:sched:sched_switch { @[kstack] = count(); }',
  'tracepoint:block:block_rq_issue { @ = hist(args->bytes); }',
  'uprobe:/bin/bash:readline { printf("arg0: %d\\n", arg0); }',
  'uretprobe:/bin/bash:readline { printf("read a line: %s\\n", str(retval)); }',
  'tracepoint:syscalls:sys_enter_execve { join(args->argv); }',
  't:syscalls:sys_enter_* { @[probe] = count(); }',
  'interval:s:1 { time("%H:%M:%S\\n"); }',
  'BEGIN { @x = 1; } END { print(@x); clear(@x); }',
  'tracepoint:syscalls:sys_enter_openat /comm == "bash"/ { @[str(args.filename)] = count(); }',
  'software:page-faults:100 { @[comm] = count(); }',
  'tracepoint:syscalls:sys_exit_read { @[comm] = stats(args.ret); }',
  't:syscalls:sys_enter_read { @fd[tid] = args.fd; }',
  'tracepoint:sched:sched_process_exec { printf("%s\\n", str(args.filename)); }',
  'BEGIN { $x = "abc"; if ($x == "abc") { printf("y\\n"); } else { printf("n\\n"); } }',
  'tracepoint:tcp:tcp_retransmit_skb { @[ntop(args->daddr)] = count(); }',
  'BEGIN { printf("%-10s %5d %x\\n", "ab", 42, 255); exit(); }',
  'interval:ms:100 { @c++; }',
  'BEGIN { @m[1, "a"] = 5; } END { for ($kv : @m) { printf("%d %s %d\\n", $kv.0.0, $kv.0.1, $kv.1); } }',
  'tracepoint:syscalls:sys_enter_openat { @[username] = count(); }',
  't:syscalls:sys_enter_read /args.count > 1000/ { @big = count(); }',
  'BEGIN { printf("%s\\n", str($1)); exit(); }',
  'BEGIN { print((1, "two")); }',
  'rawtracepoint:sched_switch { @ = count(); }',
  't:sched:sched_switch { @[args.prev_comm] = count(); @pids[args.next_pid] = max(args.prev_prio); }',
  'tracepoint:syscalls:sys_enter_write /args.count > 0/ { @w = sum(args.count); @a = avg(args.count); @mn = min(args.count); }',
  'BEGIN { $i = 0; while ($i < 10) { $i++; if ($i == 5) { break; } } @i = $i; }',
  'BEGIN { unroll(3) { @u = count(); } }',
  'tracepoint:syscalls:sys_enter_kill { printf("%d -> %d (sig %d)\\n", pid, args.pid, args.sig); }',
  'uprobe:libc:malloc { @bytes[comm] = sum(arg0); }',
  'usdt:libstdc++:libstdcxx:throw { @[ustack] = count(); }',
  'kafka:produce { @bytes[args.topic] = sum(args.bytes); }',
  'kafka:fetch { @lag[args.group, args.topic, args.partition] = max(args.lag); }',
  'kafka:request /args.latency > 1000000/ { @slow[args.api, args.client_id] = hist(args.latency); }',
  'kafka:joingroup, kafka:syncgroup { printf("%s %s gen %d\\n", args.group, args.member, args.generation); }',
  'kafka:rebalance { @dur[args.group] = hist(args.duration); @members[args.group] = max(args.members); }',
  'kafka:* { @[probe, args.error_name] = count(); }',
];

describe('bpftrace-style one-liners', () => {
  for (const source of ONELINERS) {
    it(source, () => {
      const r = frontend(source, '-e', { positional: [], unsafe: false, system: realSystem() });
      expect(r.diagnostics.map((d) => formatDiagnostic(d, source)).join('\n\n')).toBe('');
      expect(r.analysis?.probes.length).toBe(r.script!.probes.length);
    });
  }
});
