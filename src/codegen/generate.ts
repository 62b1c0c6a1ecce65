// The C source of a script's BPF object: the prelude (bpf-templates/kt_prelude.h), the script's maps,
// the tracepoint record structs and one function per BPF program.
import { InternalError } from '../errors.js';
import { attachName, type Analysis, type AnalyzedProbe, type ResolvedAttach } from '../frontend/analysis.js';
import type { Call, Script } from '../frontend/ast.js';
import { eventCalls } from '../plan/events.js';
import { STACK_DEPTH, stackMapName } from '../plan/layout.js';
import { programKind, type ProgramKind } from '../plan/programs.js';
import type { Plan, PlanEvent, PlanMap } from '../plan/types.js';
import { CodegenError } from './errors.js';
import { cComment } from './escape.js';
import { ProgramGen } from './program/index.js';
import { tracepointStruct } from './tracepoint-struct.js';

const STACK_ENTRIES = 4096;
/** The largest value of a per-CPU array (the kernel's PCPU_MIN_UNIT_SIZE), which holds the scratch area. */
const MAX_SCRATCH = 32768;

const MAP_TYPES: Record<PlanMap['bpfType'], string> = {
  hash: 'BPF_MAP_TYPE_HASH',
  percpu_hash: 'BPF_MAP_TYPE_PERCPU_HASH',
  array: 'BPF_MAP_TYPE_ARRAY',
  percpu_array: 'BPF_MAP_TYPE_PERCPU_ARRAY',
  lru_hash: 'BPF_MAP_TYPE_LRU_HASH',
};


function ctxTypeOf(kind: ProgramKind): string {
  switch (kind) {
    case 'raw_tp':
      return 'struct bpf_raw_tracepoint_args';
    case 'uprobe':
    case 'uretprobe':
    case 'usdt':
    case 'kprobe':
    case 'kretprobe':
      return 'struct pt_regs';
    case 'perf_event':
      return 'struct kt_perf_event_data';
    case 'fentry':
    case 'fexit':
      return '__u64';
    default:
      return 'void';
  }
}

function sectionOf(kind: ProgramKind, a: ResolvedAttach): string {
  if (kind === 'begin' || kind === 'end') return 'raw_tp';
  if ((a.type === 'fentry' || a.type === 'fexit') && /^[A-Za-z0-9_.]+$/.test(a.func)) return `${a.type}/${a.func}`;
  if (a.type === 'fentry' || a.type === 'fexit') throw new InternalError(`bad function name '${a.func}'`);
  return kind;
}

function readsUserMemory(a: ResolvedAttach): boolean {
  if (a.type === 'tracepoint') return a.category === 'syscalls' || a.category === 'raw_syscalls';
  return a.type === 'uprobe' || a.type === 'uretprobe' || a.type === 'usdt';
}

function mapDecl(m: PlanMap & { bpfName: string }): string {
  return [
    'struct {',
    `  __uint(type, ${MAP_TYPES[m.bpfType]});`,
    `  __uint(max_entries, ${m.maxEntries});`,
    `  __uint(key_size, ${m.keyLayout.size});`,
    `  __uint(value_size, ${m.valueSize});`,
    `} ${m.bpfName} SEC(".maps");`,
  ].join('\n');
}

/** SIGSTOP on x86-64. */
const SIGSTOP = 19;

/** Argument n (from 0) of a function entered, in a uprobe program on x86-64. */
function entryArg(n: number): string {
  const regs = ['PT_REGS_PARM1(ctx)', 'PT_REGS_PARM2(ctx)', 'PT_REGS_PARM3(ctx)', 'PT_REGS_PARM4(ctx)', 'PT_REGS_PARM5(ctx)', 'ctx->r9'];
  const reg = regs[n];
  if (reg === undefined) throw new InternalError(`arg${n} is not in a register`);
  return reg;
}

/**
 * The setup program of a watchpoint on a function argument: on entry it sends the argument's address
 * (a `watchpoint` record) and, unless async, stops the process until the runtime has set the
 * breakpoint and resumes it. The record goes first: a process is never stopped without one.
 */
function watchpointSetup(plan: Plan, name: string, setup: string, a: ResolvedAttach): string {
  if (a.type !== 'argwatchpoint') throw new InternalError(`program ${name} has a setup program but watches no argument`);
  const ev = plan.events.find((e) => e.kind === 'watchpoint' && e.program === name);
  if (!ev || ev.kind !== 'watchpoint') throw new InternalError(`no watchpoint record for program ${name}`);
  const field = ev.layout.fields[0];
  if (!field) throw new InternalError(`the watchpoint record of ${name} has no address`);
  return [
    'SEC("uprobe")',
    `int ${setup}(struct pt_regs *ctx)`,
    '{',
    '  KT_LIVE();',
    '  KT_FILTER();',
    `  __u8 *r = kt_record(${ev.id}, ${ev.layout.size});`,
    '  if (!r)',
    '    return 0;',
    `  *(__u64 *)(r + ${field.offset}) = (__u64)${entryArg(a.arg)};`,
    '  bpf_ringbuf_submit(r, 0);',
    ...(a.async ? [] : [`  bpf_send_signal(${SIGSTOP});`]),
    '  return 0;',
    '}',
  ].join('\n');
}

/** Pairs each record-sending call of the kernel probes with its plan event (both walk in one order). */
function eventsByCall(plan: Plan, kernelProbes: AnalyzedProbe[]): Map<Call, PlanEvent> {
  const byCall = new Map<Call, PlanEvent>();
  let next = 0;
  for (const ap of kernelProbes) {
    for (const call of eventCalls(ap.probe)) {
      const ev = plan.events[next++];
      if (!ev) throw new InternalError('the plan has fewer events than the script sends');
      byCall.set(call, ev);
    }
  }
  return byCall;
}

export function generateC(plan: Plan, script: Script, analysis: Analysis): string {
  const maps = new Map(plan.maps.filter((m) => m.home === 'kernel').map((m) => [m.name, m]));
  const kernelProbes = analysis.probes.filter((p) => p.where === 'kernel');
  const events = eventsByCall(plan, kernelProbes);
  const structs: string[] = [];
  const programs: string[] = [];
  let scratch = 8;
  let zero = 8;
  const stackLimits = new Set<number>();
  let usdt = false;
  for (const pp of plan.probes) {
    if (pp.where !== 'kernel') continue;
    const ap = kernelProbes.find((p) => p.index === pp.index);
    if (!ap) throw new InternalError(`probe ${pp.index} is not in the analysis`);
    for (const prog of pp.programs) {
      const first = prog.attach[0];
      if (!first) throw new InternalError(`program ${prog.name} attaches nowhere`);
      const kind = programKind(first);
      usdt ||= kind === 'usdt';
      let ctxType = ctxTypeOf(kind);
      let format;
      let structMembers;
      if (first.type === 'tracepoint' && ap.usesArgs) {
        format = ap.tracepointFormats[`${first.category}:${first.name}`];
        if (!format) throw new InternalError(`no format for tracepoint ${first.category}:${first.name}`);
        const s = tracepointStruct(`kt_tp_${prog.name}`, format);
        structs.push(s.decl);
        structMembers = s.members;
        ctxType = `struct kt_tp_${prog.name}`;
      }
      const out = new ProgramGen({
        name: prog.name,
        kind,
        probe: ap,
        probeText: prog.attach.length === 1 ? attachName(first) : pp.text,
        format,
        structMembers,
        section: sectionOf(kind, first),
        ctxType,
        userMemory: readsUserMemory(first),
        processFilter: !prog.attach.every((a) => a.type === 'begin' || a.type === 'end' || a.type === 'interval'),
        stopsWithSession: !prog.attach.some((a) => a.type === 'begin' || a.type === 'end'),
        maps,
        events,
        helperError: plan.events.find((e) => e.kind === 'helperError'),
        positional: analysis.positional,
        hostValues: analysis.hostValues,
      }).generate();
      programs.push(`/* probe ${pp.index}: ${cComment(prog.attach.map(attachName).join(', '))} */\n${out.code}`);
      if (prog.setup) programs.push(`/* probe ${pp.index}: sets the watchpoint of ${prog.name} */\n${watchpointSetup(plan, prog.name, prog.setup, first)}`);
      if (out.scratchSize > MAX_SCRATCH) {
        throw new CodegenError(
          `this probe needs ${out.scratchSize} bytes of strings, keys and tuples at once; the limit is ${MAX_SCRATCH}`,
          ap.probe.loc,
        );
      }
      scratch = Math.max(scratch, out.scratchSize);
      zero = Math.max(zero, out.zeroSize);
      for (const limit of out.stackLimits) stackLimits.add(limit);
    }
  }
  for (const m of maps.values()) zero = Math.max(zero, m.valueSize, m.keyLayout.size);

  const parts = [
    `/* Generated by kafkatrace from ${cComment(plan.file || script.file)}. */`,
    `#define KT_RINGBUF_SIZE ${plan.ringbufSize}`,
    `#define KT_SCRATCH_SIZE ${scratch}`,
    `#define KT_ZERO_SIZE ${zero}`,
    '#include "kt_prelude.h"',
  ];
  // usdt.bpf.h uses bool without including its header.
  if (usdt) parts.push('#include <stdbool.h>\n#include <bpf/usdt.bpf.h>');
  for (const limit of [...stackLimits].sort((a, b) => a - b)) {
    parts.push(
      [
        'struct {',
        '  __uint(type, BPF_MAP_TYPE_STACK_TRACE);',
        `  __uint(max_entries, ${STACK_ENTRIES});`,
        '  __uint(key_size, 4);',
        `  __uint(value_size, ${(limit || STACK_DEPTH) * 8});`,
        `} ${stackMapName(limit)} SEC(".maps");`,
      ].join('\n'),
    );
  }
  for (const m of maps.values()) {
    parts.push(mapDecl(m as PlanMap & { bpfName: string }));
    if (m.perCpu) parts.push(`KT_PERCPU_READERS(${m.bpfName})`);
  }
  parts.push(...structs, ...programs);
  return parts.join('\n\n') + '\n';
}
