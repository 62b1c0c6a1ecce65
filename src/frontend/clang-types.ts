// clang as the front end's C parser: a script's C definitions compiled for the bpf target with
// debug information, whose .BTF section then holds their layouts as clang lays them out.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { elfSection } from './elf.js';

/** The BTF of C `source` (the caller anchors the types it wants kept; empty when it defines none), or clang's messages. */
export function compileTypes(source: string): { ok: true; value: Uint8Array } | { ok: false; error: string } {
  const args = ['-target', 'bpf', '-ffreestanding', '-g', '-O0', '-fno-color-diagnostics'];
  // <linux/types.h> needs <asm/types.h>, in Debian's multiarch directory that clang does not search for bpf.
  // The C describes this host's memory, as bpftrace parses it for the host: glibc's headers
  // (<sys/socket.h> in tcplife.bt) pick the host's word size from __x86_64__.
  if (existsSync('/usr/include/x86_64-linux-gnu/asm/types.h')) args.push('-idirafter', '/usr/include/x86_64-linux-gnu', '-D__x86_64__');
  args.push('-x', 'c', '-', '-c', '-o', '-');
  const r = spawnSync('clang', args, { input: source, maxBuffer: 64 << 20 });
  if (r.error) return { ok: false, error: `cannot run clang to read the script's C definitions: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, error: r.stderr.toString() };
  return { ok: true, value: elfSection(r.stdout, '.BTF') ?? new Uint8Array(0) };
}
