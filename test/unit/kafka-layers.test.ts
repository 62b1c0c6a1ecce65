// src/kafka runs one way (DESIGN.md): model.ts (types only) -> wire/ -> probes/ -> lane/ ->
// exchange/ -> trackers/ -> index.ts, each importing only itself and those before it; and capture/
// stands apart (only the facade uses it). Import cycles anywhere are architecture.test.ts's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { importGraph, REPO, upwardImports } from '../helpers/import-graph.js';

const ORDER = ['model', 'wire', 'probes', 'lane', 'exchange', 'trackers', 'facade'] as const;

/** A src/kafka file's layer (capture/ has none: it is checked apart), undefined elsewhere. */
function layerOf(file: string): string | undefined {
  if (file === 'src/kafka/model.ts') return 'model';
  if (file === 'src/kafka/index.ts') return 'facade';
  const folder = /^src\/kafka\/([^/]+)\//.exec(file)?.[1];
  return folder !== undefined && folder !== 'capture' ? folder : undefined;
}

const inKafka = (file: string): boolean => file.startsWith('src/kafka/');
const inCapture = (file: string): boolean => file.startsWith('src/kafka/capture/');

describe('src/kafka layers', () => {
  const graph = importGraph();

  it('puts every file of src/kafka in a known layer or in capture/', () => {
    const stray = [...graph.keys()].filter((f) => inKafka(f) && !inCapture(f) && !(ORDER as readonly string[]).includes(layerOf(f) ?? ''));
    expect(stray).toEqual([]);
  });

  it('has no import pointing up the layer order', () => {
    expect(upwardImports(graph, layerOf, ORDER)).toEqual([]);
  });

  it('keeps capture/ apart: it imports no layer, and only the facade imports it', () => {
    const bad: string[] = [];
    for (const [from, targets] of graph) {
      for (const to of targets) {
        if (!inKafka(from) || !inKafka(to) || inCapture(from) === inCapture(to)) continue;
        if (inCapture(to) && from === 'src/kafka/index.ts') continue;
        bad.push(`${from} -> ${to}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('keeps model.ts to types: no statement that emits code', () => {
    const file = 'src/kafka/model.ts';
    const source = ts.createSourceFile(file, readFileSync(join(REPO, file), 'utf8'), ts.ScriptTarget.Latest);
    const code = source.statements.filter((s) => {
      if (ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s)) return false;
      if (ts.isImportDeclaration(s)) return !s.importClause?.isTypeOnly;
      if (ts.isExportDeclaration(s)) return !s.isTypeOnly;
      return true;
    });
    expect(code.map((s) => s.getText(source).split('\n')[0])).toEqual([]);
  });
});
