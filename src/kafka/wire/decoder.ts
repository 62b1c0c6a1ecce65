// Schema-driven decoding of request and response bodies, for every version of the bundled schemas.
// Bodies decode through functions compiled per message, version and projection (body-compiler.ts);
// when one stops early (a truncated or corrupt frame) the interpreter here decodes the body again,
// writing values into the result as soon as they are read, so the caller still has everything
// before that point.
import { compileBody, compileProjectedBody, type CompiledBody, type ProjectedBody, type ProjectedRuntime } from './body-compiler.js';
import { cached, literal } from './generated-code.js';
import { DecodeError, type Reader } from './reader.js';
import { summarizeRecordWindows } from './records.js';
import { inRange, type FieldSpec, type MessageSpec, type PrimitiveType } from './schemas/spec.js';
import type { DecodedStruct, DecodedValue } from './values.js';

export interface BodyResult {
  body: DecodedStruct;
  /** Why decoding stopped early; undefined when the body decoded to its end. */
  error?: DecodeError;
}

const runtime: ProjectedRuntime = { tagged: decodeTaggedFields, skipTagged };

/** A number per message spec, for the keys of generated-code.ts's cache. */
const specIds = new WeakMap<MessageSpec, number>();
let nextSpecId = 0;
const specId = (spec: MessageSpec): number => {
  let id = specIds.get(spec);
  if (id === undefined) specIds.set(spec, (id = nextSpecId++));
  return id;
};

/**
 * The compiled decoders (from generated-code.ts's cache) by message and version, and by projection:
 * each frame finds its decoder by object identity, with no key string made.
 */
const whole = new Map<MessageSpec, (CompiledBody | undefined)[]>();
const projected = new WeakMap<ReadonlySet<string>, Map<MessageSpec, (ProjectedBody | undefined)[]>>();

function compiledBody(spec: MessageSpec, version: number): CompiledBody {
  let byVersion = whole.get(spec);
  if (!byVersion) whole.set(spec, (byVersion = []));
  return (byVersion[version] ??= cached(`body ${specId(spec)} ${version}`, () => compileBody(spec, version, runtime)));
}

function projectedBody(spec: MessageSpec, version: number, fields: ReadonlySet<string>): ProjectedBody {
  let bySpec = projected.get(fields);
  if (!bySpec) projected.set(fields, (bySpec = new Map()));
  let byVersion = bySpec.get(spec);
  if (!byVersion) bySpec.set(spec, (byVersion = []));
  return (byVersion[version] ??= cached(`body ${specId(spec)} ${version} ${[...fields].sort().map(literal).join(',')}`, () => compileProjectedBody(spec, version, runtime, fields)));
}

/**
 * Decodes a message body at `version`; never throws. A body that decodes cleanly takes the compiled
 * path; one that stops early is decoded again by the interpreter, which keeps the fields read before
 * the failure.
 */
export function decodeBody(spec: MessageSpec, version: number, r: Reader): BodyResult {
  return decodeOrInterpret(compiledBody(spec, version), true, spec, version, r);
}

/**
 * Decodes only `fields` of a body (by name, at any depth: see body-compiler.ts). A body that stops
 * early is decoded again whole by the interpreter, so a failure keeps what the full path keeps. A
 * projection that ends before the body does checks nothing after its last field.
 */
export function decodeProjected(spec: MessageSpec, version: number, fields: ReadonlySet<string>, r: Reader): BodyResult {
  const body = projectedBody(spec, version, fields);
  return decodeOrInterpret(body.decode, body.whole, spec, version, r);
}

/** Runs a compiled decoder; when it stops early, the interpreter decodes the body again from its start. */
function decodeOrInterpret(decode: (r: Reader) => DecodedStruct, toTheEnd: boolean, spec: MessageSpec, version: number, r: Reader): BodyResult {
  const start = r.pos;
  try {
    const body = decode(r);
    if (toTheEnd && r.pos !== r.declaredEnd) {
      return { body, error: new DecodeError('trailing', `${r.declaredEnd - r.pos} bytes after the body`) };
    }
    return { body };
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
  }
  r.pos = start;
  return interpretBody(spec, version, r);
}

/** The interpreter: slower than the compiled path, but it keeps what was read before a failure. */
export function interpretBody(spec: MessageSpec, version: number, r: Reader): BodyResult {
  const body: DecodedStruct = {};
  try {
    decodeStruct(r, spec.fields, version, inRange(spec.flexible, version), body);
    if (r.pos !== r.declaredEnd) {
      return { body, error: new DecodeError('trailing', `${r.declaredEnd - r.pos} bytes after the body`) };
    }
    return { body };
  } catch (e) {
    if (e instanceof DecodeError) return { body, error: e };
    throw e;
  }
}

function decodeStruct(
  r: Reader,
  fields: readonly FieldSpec[],
  version: number,
  flexible: boolean,
  out: DecodedStruct,
): void {
  for (const f of fields) {
    if (!inRange(f.v, version)) continue;
    if (flexible && f.tag !== undefined && inRange(f.tv, version)) continue;
    decodeField(r, f, version, flexible, out);
  }
  if (flexible) decodeTaggedFields(r, fields, version, out);
}

function decodeTaggedFields(r: Reader, fields: readonly FieldSpec[], version: number, out: DecodedStruct): void {
  taggedFields(r, r.uvarint(), fields, version, out);
}

/** Steps over a tagged fields section; the fields it has (rarely any) are decoded and dropped, for the same checks. */
function skipTagged(r: Reader, fields: readonly FieldSpec[], version: number): void {
  const count = r.uvarint();
  if (count > 0) taggedFields(r, count, fields, version, {});
}

function taggedFields(r: Reader, count: number, fields: readonly FieldSpec[], version: number, out: DecodedStruct): void {
  for (let i = 0; i < count; i++) {
    const tag = r.uvarint();
    const size = r.uvarint();
    const end = r.pos + size;
    if (end > r.declaredEnd) throw new DecodeError('overrun', `tagged field ${tag} runs past the end of the frame`);
    const f = fields.find((x) => x.tag === tag && inRange(x.tv, version));
    if (f) {
      decodeField(r, f, version, true, out);
      if (r.pos > end) throw new DecodeError('overrun', `tagged field ${tag} is longer than its size`);
    }
    r.pos = end;
  }
}

function decodeField(r: Reader, f: FieldSpec, version: number, messageFlexible: boolean, out: DecodedStruct): void {
  const compact = f.fx !== undefined ? inRange(f.fx, version) : messageFlexible;
  const nullable = inRange(f.nv, version);
  if (f.a) {
    const n = r.length(compact);
    if (n === null) {
      out[f.n] = null;
      return;
    }
    const items: DecodedValue[] = [];
    out[f.n] = items;
    for (let i = 0; i < n; i++) {
      if (f.t === 'struct') {
        const item: DecodedStruct = {};
        items.push(item);
        decodeStruct(r, f.f ?? [], version, messageFlexible, item);
      } else if (f.t !== 'records') {
        items.push(readPrimitive(r, f.t, compact, false));
      }
    }
    return;
  }
  if (f.t === 'struct') {
    if (nullable && r.int8() < 0) {
      out[f.n] = null;
      return;
    }
    const item: DecodedStruct = {};
    out[f.n] = item;
    decodeStruct(r, f.f ?? [], version, messageFlexible, item);
    return;
  }
  if (f.t === 'records') {
    const n = r.length(compact);
    if (n === null) {
      out[f.n] = null;
      return;
    }
    const start = r.pos;
    out[f.n] = summarizeRecordWindows((at, len) => r.window(start + at, len), n);
    r.skip(n);
    return;
  }
  out[f.n] = readPrimitive(r, f.t, compact, nullable);
}

function readPrimitive(r: Reader, t: Exclude<PrimitiveType, 'records'>, compact: boolean, nullable: boolean): DecodedValue {
  switch (t) {
    case 'bool':
      return r.bool();
    case 'int8':
      return r.int8();
    case 'int16':
      return r.int16();
    case 'uint16':
      return r.uint16();
    case 'int32':
      return r.int32();
    case 'uint32':
      return r.uint32();
    case 'int64':
      return r.int64();
    case 'float64':
      return r.float64();
    case 'uuid':
      return r.uuid();
    case 'string': {
      const n = r.length(compact, true);
      if (n === null) return nullOr(nullable, 'string');
      return r.string(n);
    }
    case 'bytes': {
      const n = r.length(compact);
      if (n === null) return nullOr(nullable, 'bytes');
      r.skip(n);
      return { kind: 'bytes', length: n };
    }
  }
}

function nullOr(nullable: boolean, what: string): null {
  if (!nullable) throw new DecodeError('bad_length', `null ${what} in a field that cannot be null`);
  return null;
}
