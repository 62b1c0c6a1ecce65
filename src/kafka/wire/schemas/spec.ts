// Shapes of the schema data in generated.ts (compact keys keep the generated file small).

/** Inclusive version range [min, max]; max 32767 means open ended ("3+"). */
export type VersionRange = readonly [number, number];

export type PrimitiveType =
  | 'bool' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'float64'
  | 'string' | 'bytes' | 'records' | 'uuid';

export interface FieldSpec {
  /** Field name as the schema spells it (PascalCase). */
  readonly n: string;
  readonly t: PrimitiveType | 'struct';
  /** 1 when the field is an array of `t`. */
  readonly a?: 1;
  /** Versions in which the field is present. */
  readonly v: VersionRange;
  /** Versions in which the field may be null. */
  readonly nv?: VersionRange;
  /** Versions in which the field is a tagged field, with its tag. */
  readonly tv?: VersionRange;
  readonly tag?: number;
  /** Field-level override of the message's flexible versions (null: never flexible). */
  readonly fx?: VersionRange | null;
  /** Fields of a struct (or of each array element). */
  readonly f?: readonly FieldSpec[];
}

export interface MessageSpec {
  readonly key: number;
  readonly kind: 'request' | 'response';
  readonly name: string;
  readonly valid: VersionRange;
  /** Flexible (compact, tagged) versions; null when the message has none. */
  readonly flexible: VersionRange | null;
  readonly fields: readonly FieldSpec[];
}

export function inRange(r: VersionRange | null | undefined, version: number): boolean {
  return r != null && version >= r[0] && version <= r[1];
}
