// The BPF objects a process holds, read from /proc: bpftool here cannot say which process holds a
// program, and other tests on the machine load programs of their own, so "nothing left behind" is
// checked against what our own processes held.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface HeldBpf {
  /** Program ids behind prog fds and link fds. */
  progs: Set<number>;
  maps: Set<number>;
  links: Set<number>;
  /** Open BPF and perf-event fds (a perf event carries a tracepoint attachment). */
  fds: number;
}

export function emptyHeld(): HeldBpf {
  return { progs: new Set(), maps: new Set(), links: new Set(), fds: 0 };
}

/** Adds what `pid` holds now to `into` (a fresh record by default); a vanished process adds nothing. */
export function heldBpf(pid: number | 'self' = 'self', into: HeldBpf = emptyHeld()): HeldBpf {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return into;
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (!/^anon_inode:(bpf|\[perf_event\])/.test(target)) continue;
      into.fds++;
      const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      const id = (field: string) => Number(new RegExp(`^${field}:\\s*(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
      if (target === 'anon_inode:bpf-map') into.maps.add(id('map_id'));
      if (target === 'anon_inode:bpf_link') into.links.add(id('link_id'));
      if (target === 'anon_inode:bpf-prog' || target === 'anon_inode:bpf_link') into.progs.add(id('prog_id'));
    } catch {
      // The fd closed while the list was read (readdir's own, for one).
    }
  }
  return into;
}

/** Ids of the programs, maps or links loaded on the machine now. */
function loadedIds(kind: 'prog' | 'map' | 'link'): Set<number> {
  const list = JSON.parse(execFileSync('bpftool', ['-j', kind, 'show'], { encoding: 'utf8' })) as { id: number }[];
  return new Set(list.map((o) => o.id));
}

/**
 * Those of `ids` still loaded after waiting up to `ms` for them to go: a closed program is freed
 * after an RCU grace period, and the CLI hands its links to a reaper that closes them after it exits.
 */
export async function stillLoaded(kind: 'prog' | 'map' | 'link', ids: Iterable<number>, ms = 10_000): Promise<number[]> {
  const wanted = [...ids];
  const deadline = performance.now() + ms;
  for (;;) {
    const loaded = loadedIds(kind);
    const left = wanted.filter((id) => loaded.has(id));
    if (left.length === 0 || performance.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}
