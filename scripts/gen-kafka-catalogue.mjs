#!/usr/bin/env node
// Writes the kafka probe catalogue stdlib/kafka-probes.json from the arg table src/kafka/probes/args.ts, then
// the README's probe tables from the catalogue (scripts/gen-kafka-doc.mjs). Run after changing the
// table, on a build (npm run build):
//   node scripts/gen-kafka-catalogue.mjs
// test/unit/kafka-args.test.ts and test/unit/kafka-doc.test.ts fail while either is stale.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { catalogueJson } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'kafka', 'probes', 'args.js')).href);
const { decodedVersions } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'kafka', 'wire', 'schemas', 'index.js')).href);
const out = join(ROOT, 'stdlib', 'kafka-probes.json');
writeFileSync(out, catalogueJson(decodedVersions));
process.stdout.write(`wrote ${out}\n`);
const doc = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-kafka-doc.mjs')], { stdio: 'inherit' });
process.exit(doc.status ?? 1);
