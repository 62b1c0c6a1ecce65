// Maps shared between the REPL's blocks: one kernel map per name, whichever blocks use it. A block
// may join a live map only when it would store exactly the same bytes in it.
import type { MapValueKind } from '../frontend/ast.js';
import { typeName } from '../frontend/types.js';
import type { PlanMap } from '../plan/types.js';

function valueText(v: MapValueKind): string {
  switch (v.kind) {
    case 'scalar':
      return typeName(v.type);
    case 'lhist':
      return `lhist(${v.min}, ${v.max}, ${v.step})`;
    default:
      return `${v.kind}()`;
  }
}

/** How a map looks to the user: `@c[uint64, string[16]] = count()`. */
function describeMap(m: PlanMap): string {
  const keys = m.keyTypes.length > 0 ? `[${m.keyTypes.map(typeName).join(', ')}]` : '';
  return `${m.name}${keys} = ${valueText(m.value)}`;
}

/** Why a block cannot share the live map `live` as `wanted`, or undefined when it can. */
export function shapeMismatch(live: PlanMap, wanted: PlanMap): string | undefined {
  const same =
    JSON.stringify(live.keyLayout) === JSON.stringify(wanted.keyLayout) &&
    JSON.stringify(live.value) === JSON.stringify(wanted.value) &&
    live.valueSize === wanted.valueSize &&
    live.perCpu === wanted.perCpu &&
    live.bpfType === wanted.bpfType &&
    live.maxEntries === wanted.maxEntries;
  if (same) return undefined;
  return `${live.name} is live as ${describeMap(live)}; this block uses it as ${describeMap(wanted)}: use another name, or detach the blocks that use it first`;
}
