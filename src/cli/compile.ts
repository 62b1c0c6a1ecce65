// `kafkatrace compile FILE -o DIR`: the generated C, the BPF object and the plan, for inspection or to
// ship a prebuilt object.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { planToJson } from '../plan/json.js';
import { objectFor, planSource, systemEnv } from './pipeline.js';
import { outputError } from './sink.js';
import type { ScriptSource } from './source.js';

export async function compileToDir(src: ScriptSource, dir: string, opts: { positional: string[]; unsafe: boolean; helperChecks: 0 | 1 | 2; includes: string[] }, write: (s: string) => void): Promise<void> {
  const compiled = planSource(src, systemEnv(opts.positional, opts.unsafe, false, opts.helperChecks, { includes: opts.includes }));
  const object = await objectFor(compiled);
  mkdirSync(dir, { recursive: true });
  const stem = src.file === '-e' || src.file === 'stdin' ? 'script' : basename(src.file).replace(/\.ktr$/, '');
  const files: [string, string | Buffer][] = [[join(dir, `${stem}.plan.json`), planToJson(compiled.plan, 2) + '\n']];
  if (object) files.push([join(dir, `${stem}.bpf.c`), compiled.c], [join(dir, `${stem}.bpf.o`), object]);
  for (const [file, content] of files) {
    try {
      writeFileSync(file, content);
    } catch (e) {
      throw outputError(file, e);
    }
  }
  for (const [file] of files) write(`wrote ${file}\n`);
}
