// What loading BPF needs from the system: root (or the capabilities that stand in for it), and tracefs.
import { readFileSync } from 'node:fs';
import { ensureTracefs as findOrMountTracefs } from '../frontend/system.js';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

const PRIVILEGES_MESSAGE = 'kafkatrace needs root (or CAP_BPF and CAP_PERFMON) to load BPF programs';

/** The effective capability set of this process, from /proc/self/status. */
export function effectiveCapabilities(status = readFileSync('/proc/self/status', 'utf8')): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export function hasBpfPrivileges(caps: bigint): boolean {
  const has = (bit: bigint) => (caps >> bit) & 1n;
  return has(CAP_SYS_ADMIN) === 1n || (has(CAP_BPF) === 1n && has(CAP_PERFMON) === 1n);
}

/** The message to show when this process may not load BPF programs, or undefined when it may. */
export function privilegeProblem(): string | undefined {
  return hasBpfPrivileges(effectiveCapabilities()) ? undefined : PRIVILEGES_MESSAGE;
}

/**
 * Makes sure tracefs is there (libbpf reads tracepoint ids from it), mounting it when it is not;
 * returns why that failed, or undefined when it is available.
 */
export function ensureTracefs(): string | undefined {
  return findOrMountTracefs().error;
}
