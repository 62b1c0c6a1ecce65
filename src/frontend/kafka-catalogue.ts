// The kafka:* probe catalogue: stdlib/kafka-probes.json, generated from the arg table src/kafka/probes/args.ts
// and read at run time, so the front end needs nothing of the decoder. Each probe's args are the
// common args followed by its own.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KtError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import type { KType } from './ast.js';
import type { KafkaArg } from './analysis.js';

export interface KafkaProbeInfo {
  name: string;
  /** The Kafka API whose exchanges fire the probe; absent for probes derived from every exchange. */
  api?: string;
  description: string;
  /** Common args first, then the probe's own. */
  args: KafkaArg[];
}

export interface KafkaCatalogue {
  common: KafkaArg[];
  probes: KafkaProbeInfo[];
}

const CATALOGUE_PATH = join('stdlib', 'kafka-probes.json');

/** The catalogue ships at the package root's stdlib/; undefined when it is missing. */
export function findCataloguePath(): string | undefined {
  const candidate = join(packageRoot(), CATALOGUE_PATH);
  return existsSync(candidate) ? candidate : undefined;
}

function fail(where: string, what: string): never {
  throw new KtError('catalogue-invalid', `invalid kafka probe catalogue: ${where}: ${what}`);
}

function parseArg(raw: unknown, where: string): KafkaArg {
  if (typeof raw !== 'object' || raw === null) fail(where, 'an arg must be an object');
  const a = raw as Record<string, unknown>;
  if (typeof a.name !== 'string' || !/^[a-z_][a-z0-9_]*$/.test(a.name)) fail(where, 'an arg needs a lower-case identifier "name"');
  if (typeof a.description !== 'string') fail(`${where}.${a.name}`, 'missing "description"');
  let type: KType;
  if (a.type === 'int') type = { kind: 'int', bits: 64, signed: true };
  else if (a.type === 'str') {
    if (typeof a.size !== 'number' || !Number.isInteger(a.size) || a.size < 1) fail(`${where}.${a.name}`, 'a str arg needs a positive integer "size"');
    type = { kind: 'str', size: a.size };
  } else fail(`${where}.${a.name}`, '"type" must be "int" or "str"');
  return { name: a.name, type, description: a.description };
}

/** Validates the catalogue's JSON. */
export function parseKafkaCatalogue(json: unknown): KafkaCatalogue {
  if (typeof json !== 'object' || json === null) fail('top level', 'expected an object');
  const doc = json as Record<string, unknown>;
  if (!Array.isArray(doc.common)) fail('top level', 'missing "common" array');
  if (!Array.isArray(doc.probes)) fail('top level', 'missing "probes" array');
  const common = doc.common.map((a, i) => parseArg(a, `common[${i}]`));
  const seen = new Set<string>();
  const probes = doc.probes.map((raw, i): KafkaProbeInfo => {
    if (typeof raw !== 'object' || raw === null) fail(`probes[${i}]`, 'a probe must be an object');
    const p = raw as Record<string, unknown>;
    if (typeof p.name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(p.name)) fail(`probes[${i}]`, 'a probe needs a lower-case "name"');
    if (seen.has(p.name)) fail(`probes[${i}]`, `duplicate probe ${p.name}`);
    seen.add(p.name);
    if (typeof p.description !== 'string') fail(`probes.${p.name}`, 'missing "description"');
    if (p.api !== undefined && typeof p.api !== 'string') fail(`probes.${p.name}`, '"api" must be a string');
    if (!Array.isArray(p.args)) fail(`probes.${p.name}`, 'missing "args" array');
    const own = p.args.map((a, j) => parseArg(a, `probes.${p.name}.args[${j}]`));
    const args = [...common];
    for (const a of own) {
      if (args.some((c) => c.name === a.name)) fail(`probes.${p.name}`, `arg ${a.name} is defined twice`);
      args.push(a);
    }
    return { name: p.name, ...(p.api !== undefined ? { api: p.api as string } : {}), description: p.description, args };
  });
  return { common, probes };
}

let cached: KafkaCatalogue | undefined;

/** The installed catalogue (read once). Throws KtError catalogue-invalid when it is missing or invalid. */
export function kafkaCatalogue(): KafkaCatalogue {
  if (cached) return cached;
  const path = findCataloguePath();
  if (!path) throw new KtError('catalogue-invalid', `the kafka probe catalogue ${join(packageRoot(), CATALOGUE_PATH)} is missing`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new KtError('catalogue-invalid', `cannot read ${path}: ${(e as Error).message}`);
  }
  cached = parseKafkaCatalogue(json);
  return cached;
}
