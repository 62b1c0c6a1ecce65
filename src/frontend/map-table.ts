// The maps of a script as analysis learns them: one key shape (arity and key types) and one kind
// of value per map, with the place each was first given so that a conflicting use can name it.
import type { Expr, KType, Loc, MapRef, MapValueKind } from './ast.js';
import { UINT64, compatible, isInt, isPtr, typeName, unify } from './types.js';

export interface MapState {
  name: string;
  loc: Loc;
  keys?: { types: KType[]; loc: Loc };
  /** What the map holds, where that was first given (the value, for messages; the map reference). */
  value?: { kind: MapValueKind; loc: Loc; refLoc: Loc; what: string };
  usedBy: Set<'kernel' | 'user'>;
}

type Report = (loc: Loc, message: string) => void;

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function at(loc: Loc): string {
  return `${loc.line}:${loc.col}`;
}

function valueWhat(kind: MapValueKind): string {
  return kind.kind === 'scalar' ? `a ${typeName(kind.type)} value` : `${kind.kind}()`;
}

/** The type reading a map gives, or undefined for maps whose value is not one number (stats, hist). */
export function mapValueType(kind: MapValueKind): KType | undefined {
  switch (kind.kind) {
    case 'scalar':
      return kind.type;
    case 'count':
      return UINT64;
    case 'sum':
    case 'min':
    case 'max':
    case 'avg':
      return { kind: 'int', bits: 64, signed: kind.signed };
    default:
      return undefined;
  }
}

export class MapTable {
  readonly maps = new Map<string, MapState>();
  private touched = new Set<string>();

  constructor(
    private readonly report: Report,
    seed?: Map<string, MapState>,
  ) {
    if (seed) for (const [k, v] of seed) this.maps.set(k, { ...v, usedBy: new Set() });
  }

  get(name: string): MapState | undefined {
    return this.maps.get(name);
  }

  /** Names of the maps that hold something, for suggestions. */
  names(): string[] {
    return [...this.maps.values()].filter((m) => m.value).map((m) => m.name);
  }

  /** Maps touched since the last call, by name: what one probe block uses. */
  takeTouched(): Set<string> {
    const t = this.touched;
    this.touched = new Set();
    return t;
  }

  touch(ref: MapRef, where: 'kernel' | 'user'): MapState {
    this.touched.add(ref.name);
    let state = this.maps.get(ref.name);
    if (!state) {
      state = { name: ref.name, loc: ref.loc, usedBy: new Set() };
      this.maps.set(ref.name, state);
    }
    state.usedBy.add(where);
    return state;
  }

  /** Checks key types against the map's first use; the first use defines them. */
  checkKeys(state: MapState, types: KType[], ref: { loc: Loc; keys: Expr[] }): void {
    if (!state.keys) {
      state.keys = { types, loc: ref.loc };
      return;
    }
    const first = state.keys;
    if (first.types.length !== types.length) {
      this.report(
        ref.loc,
        `${state.name} is used with ${plural(types.length, 'key')} here but with ${plural(first.types.length, 'key')} at ${at(first.loc)}`,
      );
      return;
    }
    for (const [i, t] of types.entries()) {
      if (!compatible(first.types[i]!, t)) {
        this.report(
          ref.keys[i]?.loc ?? ref.loc,
          `key ${i + 1} of ${state.name} is ${typeName(t)} here but ${typeName(first.types[i]!)} at ${at(first.loc)}`,
        );
        return;
      }
      first.types[i] = unify(first.types[i]!, t);
    }
  }

  /**
   * Records what a map holds; a different kind than its first definition is an error at `loc`.
   * `increment` is `@m++` or `@m += n`: fine on int maps, and makes an unset map an int64 map.
   */
  defineValue(ref: MapRef, kind: MapValueKind, loc: Loc, where: 'kernel' | 'user', increment = false): void {
    const state = this.touch(ref, where);
    if (!state.value) {
      state.value = { kind, loc, refLoc: ref.loc, what: valueWhat(kind) };
      return;
    }
    const first = state.value;
    if (first.loc.offset === loc.offset && first.loc.line === loc.line) return;
    const a = first.kind;
    if (increment) {
      if (a.kind === 'scalar' && (isInt(a.type) || isPtr(a.type))) return;
      this.report(loc, `${ref.name} holds ${first.what} (defined at ${at(first.loc)}); it cannot be incremented`);
      return;
    }
    if (a.kind === 'scalar' && kind.kind === 'scalar') {
      if (!compatible(a.type, kind.type)) {
        this.report(loc, `${ref.name} holds ${typeName(a.type)} (defined at ${at(first.loc)}); it cannot be assigned ${typeName(kind.type)}`);
        return;
      }
      a.type = unify(a.type, kind.type);
      return;
    }
    if (a.kind !== kind.kind) {
      this.report(loc, `${ref.name} is used with ${valueWhat(kind)} here but with ${first.what} at ${at(first.loc)}: a map holds one kind of value`);
      return;
    }
    if (a.kind === 'lhist' && kind.kind === 'lhist' && (a.min !== kind.min || a.max !== kind.max || a.step !== kind.step)) {
      this.report(loc, `${ref.name} is an lhist(${a.min}, ${a.max}, ${a.step}) map (defined at ${at(first.loc)}); its bounds cannot change`);
    }
  }

  valueType(name: string): KType | undefined {
    const v = this.maps.get(name)?.value;
    return v ? mapValueType(v.kind) : undefined;
  }
}
