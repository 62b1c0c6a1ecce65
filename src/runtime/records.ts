// What the runtime does with a kernel probe's ring-buffer record: print it, or act on it (print a
// map, clear or zero one, run system(), exit). A script's session and the REPL's blocks both act
// through here, so that a record means the same to both.
import type { BpfObject } from '../native/index.js';
import { deleteZeroes } from '../plan/build.js';
import { HELPER_NAMES } from '../plan/events.js';
import type { Plan, PlanMap } from '../plan/types.js';
import { decodeEvent, decodeMap } from './decode.js';
import type { RenderContext } from './format/value.js';
import type { Output } from './output.js';
import { runSystem, systemCommand } from './system-call.js';
import type { UserMaps } from './user-maps.js';
import type { WatchpointControl } from './watchpoints.js';
import type { MapSnapshot } from './values.js';

/** Where one BPF object's records land. */
interface RecordTarget {
  /** The plan the object was built from: it lays out the records and names the maps. */
  plan: Plan;
  /** The object, whose kernel maps print(), clear() and zero() name; absent without a kernel part. */
  obj?: BpfObject;
  userMaps: UserMaps;
  out: Output;
  /** How system() renders its arguments. */
  render: RenderContext;
  /** Where watchpoint and unwatch records go: a session's watchpoints on function arguments. */
  watchpoints?: WatchpointControl;
}

/** A map of the plan as it is now: a user-space map from `userMaps`, a kernel map read from `obj`. */
export function mapSnapshot(map: PlanMap, obj: BpfObject | undefined, userMaps: UserMaps): MapSnapshot {
  if (map.home === 'user') return userMaps.snapshot(map.name);
  const entries = map.bpfName && obj ? obj.mapDump(map.bpfName) : [];
  return decodeMap(map, entries);
}

export class RecordDispatch {
  /** Record kinds said to be unsupported, said once each. */
  private readonly unsupported = new Set<string>();

  constructor(private readonly target: RecordTarget) {}

  /**
   * Acts on one record. An exit() record is not acted on: its code is returned, and the caller ends
   * what exit() ends (the session, a REPL block). A record that cannot be acted on (a map gone, a
   * failing output) is reported and does not end anything.
   */
  act(record: Buffer): number | undefined {
    const { plan, out } = this.target;
    const e = decodeEvent(plan, record);
    if (!e.ok) {
      out.error(e.error);
      return undefined;
    }
    const ev = e.event;
    if (ev.kind === 'exit') {
      const code = e.args[0];
      return typeof code === 'bigint' ? Number(code) : 0;
    }
    try {
      switch (ev.kind) {
        case 'print': {
          const map = this.planMap(ev.map);
          if (map) out.printMap(mapSnapshot(map, this.target.obj, this.target.userMaps), ev.top || undefined, ev.div || undefined);
          return undefined;
        }
        case 'clear':
        case 'zero': {
          const map = this.planMap(ev.map);
          if (map?.bpfName) {
            if (ev.kind === 'clear' && !deleteZeroes(map)) this.target.obj?.mapClear(map.bpfName);
            else this.target.obj?.mapZero(map.bpfName);
          }
          return undefined;
        }
        case 'system': {
          // The analysis only lets system() through with --unsafe; the plan says whether it was given.
          if (!plan.unsafe) {
            out.error('system() needs --unsafe');
            return undefined;
          }
          const r = runSystem(systemCommand(ev.format, e.args, this.target.render));
          if (r.ok) out.syscall(r.output);
          else out.error(r.error);
          return undefined;
        }
        case 'watchpoint':
        case 'unwatch': {
          const address = e.args[0];
          if (typeof address !== 'bigint') throw new Error(`a ${ev.kind} record holds no address`);
          // Without watchpoints (the REPL) unwatch() has nothing to remove.
          if (ev.kind === 'unwatch') this.target.watchpoints?.unwatch(address);
          else if (this.target.watchpoints) this.target.watchpoints.set(ev.program, address);
          else out.error(`a watchpoint record reached a runtime without watchpoints (${ev.program})`);
          return undefined;
        }
        case 'helperError': {
          const [helper, retcode, line, col, length] = e.args.map((a) => (typeof a === 'bigint' ? Number(a) : 0));
          out.helperError(HELPER_NAMES[helper!] ?? `helper ${helper}`, retcode!, { line: line!, col: col!, length: length! });
          return undefined;
        }
        default:
          if (!out.event(e) && !this.unsupported.has(ev.kind)) {
            this.unsupported.add(ev.kind);
            out.error(`${ev.kind}() is not supported by this runtime yet; its records are ignored`);
          }
          return undefined;
      }
    } catch (err) {
      out.error(err instanceof Error ? err.message : String(err));
      return undefined;
    }
  }

  private planMap(name: string): PlanMap | undefined {
    const map = this.target.plan.maps.find((m) => m.name === name);
    if (!map) this.target.out.error(`unknown map ${name} in a ring buffer record`);
    return map;
  }
}
