/* The part of every kafkatrace BPF object that never changes: the system headers and the types they
 * need. clang reads it from a precompiled header when one is installed (src/codegen/pch.ts), so that
 * a first compile does not parse these headers again. */
#ifndef KT_SYSTEM_H
#define KT_SYSTEM_H

#include <linux/bpf.h>

/* The x86-64 user-space layout of pt_regs: bpf_tracing.h uses these names without vmlinux.h. */
struct pt_regs {
  unsigned long r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
  unsigned long rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
};

struct kt_perf_event_data {
  struct pt_regs regs;
  __u64 sample_period;
  __u64 addr;
};

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#endif
