// Whether a BPF object calls the helpers that only --unsafe allows (signal() compiles to
// bpf_send_signal): read from the object's code itself, so that an object taken from a cache cannot
// do what the command line did not allow, whatever the plan beside it says.

/** bpf_send_signal and bpf_send_signal_thread (include/uapi/linux/bpf.h). */
const UNSAFE_HELPERS = new Set([109, 117]);
const BPF_SEND_SIGNAL = 109;
/** `r1 = imm` (BPF_ALU64 | BPF_MOV | BPF_K, dst r1): the signal's number, just before the call. */
const MOV64_IMM = 0xb7;
const SIGSTOP = 19;
const SHT_PROGBITS = 1;
const SHF_EXECINSTR = 0x4;
const BPF_CALL = 0x85;
/** ld_imm64: an instruction of two 8-byte slots. */
const BPF_LD_IMM64 = 0x18;

/**
 * The unsafe helpers (by number) the code sections of an ELF64 little-endian BPF object call. With
 * `stopAllowed`, a bpf_send_signal of SIGSTOP as a constant is not one: what a watchpoint on a
 * function argument sends the traced process (which the session resumes), as bpftrace does without
 * --unsafe.
 */
export function unsafeHelperCalls(elf: Buffer, stopAllowed = false): number[] {
  const found = new Set<number>();
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) return [];
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  for (let i = 0; i < shnum; i++) {
    const sh = shoff + i * shentsize;
    if (sh + 0x28 > elf.length) break;
    if (elf.readUInt32LE(sh + 4) !== SHT_PROGBITS || (Number(elf.readBigUInt64LE(sh + 8)) & SHF_EXECINSTR) === 0) continue;
    const start = Number(elf.readBigUInt64LE(sh + 0x18));
    const end = Math.min(elf.length, start + Number(elf.readBigUInt64LE(sh + 0x20)));
    for (let at = start; at + 8 <= end; at += 8) {
      const code = elf[at]!;
      // A helper call has src_reg 0 (1 calls a BPF function, 2 a kernel function).
      if (code === BPF_CALL && elf[at + 1]! >> 4 === 0) {
        const helper = elf.readInt32LE(at + 4);
        const stop = helper === BPF_SEND_SIGNAL && at - 8 >= start && elf[at - 8] === MOV64_IMM && elf[at - 7] === 0x01 && elf.readInt32LE(at - 4) === SIGSTOP;
        if (UNSAFE_HELPERS.has(helper) && !(stopAllowed && stop)) found.add(helper);
      }
      if (code === BPF_LD_IMM64) at += 8;
    }
  }
  return [...found].sort((a, b) => a - b);
}
