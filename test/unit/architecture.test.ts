// The folders of src/ and grammar/ in layers: a file imports only its own folder and the folders
// below it, so that each layer can be read, tested and changed without the ones above it; and no
// import cycle. src/kafka's inner layers are kafka-layers.test.ts's.
import { describe, expect, it } from 'vitest';
import { cycles, importGraph, upwardImports } from '../helpers/import-graph.js';

/**
 * Lowest first. `leaf`: the top-level files of src/ other than the compiler (package root, cache
 * directory, executables), which everything may use. `grammar`: the lexer, parser and the AST they
 * build. `compiler`: src/compiler.ts, the pipeline driver over frontend, plan and codegen. `kafka` uses
 * frontend's SystemInfo and native; `runtime` runs kafka probes; `agent` runs several scripts as a service; `kube` runs one on a Kubernetes node; `cli` is the top and runs demo,
 * repl and agent.
 */
const LAYERS = ['leaf', 'grammar', 'frontend', 'plan', 'codegen', 'compiler', 'native', 'kafka', 'runtime', 'export', 'repl', 'demo', 'agent', 'kube', 'cli'] as const;

function layerOf(file: string): string {
  if (file.startsWith('grammar/')) return 'grammar';
  if (file === 'src/compiler.ts') return 'compiler';
  const folder = /^src\/([^/]+)\//.exec(file);
  if (folder) return folder[1]!;
  if (/^src\/[^/]+\.ts$/.test(file)) return 'leaf';
  throw new Error(`${file}: in no layer`);
}

describe('folder layers', () => {
  const graph = importGraph();

  it('puts every file in a known layer', () => {
    const unknown = [...graph.keys()].filter((f) => !(LAYERS as readonly string[]).includes(layerOf(f)));
    expect(unknown).toEqual([]);
    // The graph reads both roots: a layer test over an empty graph would pass whatever the imports.
    expect([...graph.keys()].filter((f) => f.startsWith('grammar/')).length).toBeGreaterThan(0);
    expect([...graph.keys()].filter((f) => f.startsWith('src/cli/')).length).toBeGreaterThan(0);
  });

  it('has no import from a folder to one above it', () => {
    expect(upwardImports(graph, layerOf, LAYERS)).toEqual([]);
  });

  // A cycle across folders needs an import pointing up, which the test above forbids; this one finds
  // cycles inside a folder.
  it('has no import cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });
});

describe('the layer rule itself', () => {
  it('finds an upward import and a cycle in a made-up graph', () => {
    const made = new Map([
      ['src/frontend/a.ts', new Set(['src/runtime/b.ts'])],
      ['src/runtime/b.ts', new Set(['src/frontend/a.ts'])],
      ['src/cli/c.ts', new Set(['src/frontend/a.ts', 'src/package-root.ts'])],
    ]);
    expect(upwardImports(made, layerOf, LAYERS)).toEqual(['src/frontend/a.ts -> src/runtime/b.ts']);
    expect(cycles(made)).toEqual([['src/frontend/a.ts', 'src/runtime/b.ts']]);
  });

  it('places files as the order says', () => {
    expect(layerOf('grammar/parser.ts')).toBe('grammar');
    expect(layerOf('src/compiler.ts')).toBe('compiler');
    expect(layerOf('src/cache-dir.ts')).toBe('leaf');
    expect(layerOf('src/kafka/wire/reader.ts')).toBe('kafka');
  });
});
