// What the compiled closures of a user-space probe action share: the per-firing frame, the
// completion codes statements return, and the firing a kafka probe hands to the action.
import type { Value } from './values.js';

/** One firing of a user-space probe: its args and the builtins it answers. */
export interface Firing {
  /** The full probe name, e.g. `kafka:produce` (the `probe` builtin). */
  probe: string;
  args: Record<string, bigint | string>;
  pid: number;
  tid: number;
  comm: string;
  /** CLOCK_MONOTONIC ns of the event (`nsecs`). */
  nsecs: bigint;
  /** The process's cgroup v2 id (`cgroup`), asked only when the script reads it; 0 without it. */
  cgroup?: () => bigint;
}

/** Per-firing state: scratch variables by slot, the firing, the code exit() gave. */
export interface Frame {
  vars: Value[];
  f: Firing;
  exitCode: number;
}

/** How a statement completed. */
export const Flow = { Next: 0, Break: 1, Continue: 2, Return: 3, Exit: 4 } as const;
export type Flow = (typeof Flow)[keyof typeof Flow];

export type Ev = (fr: Frame) => Value;
export type IntEv = (fr: Frame) => bigint;
export type Exec = (fr: Frame) => Flow;
