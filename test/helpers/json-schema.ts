// A JSON Schema (2020-12) checker for the keywords the project's schemas use, so that tests can hold
// a published schema against the validator in src/: type, properties, required,
// additionalProperties, propertyNames, items, pattern, minimum, oneOf, $ref (local) and enum. A
// keyword it does not know fails the check rather than passing silently.

export interface JsonSchema {
  $schema?: string;
  $defs?: Record<string, JsonSchema>;
  $ref?: string;
  title?: string;
  description?: string;
  default?: unknown;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  pattern?: string;
  minimum?: number;
  oneOf?: JsonSchema[];
  enum?: unknown[];
}

const KNOWN = new Set(['$schema', '$defs', '$ref', 'title', 'description', 'default', 'type', 'properties', 'required', 'additionalProperties', 'propertyNames', 'items', 'pattern', 'minimum', 'oneOf', 'enum']);

function typeOf(v: unknown): string[] {
  if (v === null) return ['null'];
  if (Array.isArray(v)) return ['array'];
  if (typeof v === 'number') return Number.isInteger(v) ? ['integer', 'number'] : ['number'];
  return [typeof v];
}

/** Where `value` breaks `schema` (empty: it conforms). `root` resolves `#/$defs/...` references. */
export function schemaErrors(schema: JsonSchema, value: unknown, root: JsonSchema, at = '$'): string[] {
  const unknown = Object.keys(schema).filter((k) => !KNOWN.has(k));
  if (unknown.length > 0) throw new Error(`schema keyword(s) this checker does not know: ${unknown.join(', ')}`);
  if (schema.$ref) {
    const m = /^#\/\$defs\/(.+)$/.exec(schema.$ref);
    const target = m && root.$defs?.[m[1]!];
    if (!target) throw new Error(`unresolvable $ref ${schema.$ref}`);
    return schemaErrors(target, value, root, at);
  }
  const errors: string[] = [];
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!typeOf(value).some((t) => types.includes(t))) return [`${at}: not of type ${types.join('|')}`];
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) errors.push(`${at}: not one of the enum`);
  if (typeof value === 'string' && schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${at}: does not match ${schema.pattern}`);
  if (typeof value === 'number' && schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: below ${schema.minimum}`);
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => errors.push(...schemaErrors(schema.items!, v, root, `${at}[${i}]`)));
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) errors.push(`${at}: missing ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      if (schema.propertyNames) errors.push(...schemaErrors(schema.propertyNames, k, root, `${at} key ${k}`));
      const p = schema.properties?.[k];
      if (p) errors.push(...schemaErrors(p, v, root, `${at}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${at}: ${k} is not allowed`);
      else if (typeof schema.additionalProperties === 'object') errors.push(...schemaErrors(schema.additionalProperties, v, root, `${at}.${k}`));
    }
  }
  if (schema.oneOf) {
    const passing = schema.oneOf.filter((s) => schemaErrors(s, value, root, at).length === 0).length;
    if (passing !== 1) errors.push(`${at}: matches ${passing} of oneOf, not 1`);
  }
  return errors;
}
