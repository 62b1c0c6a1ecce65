// The code generator's parts call each other only through their shared context (no part imports
// another), and codegen/ imports nothing above it: the front end and the plan, never the pipeline driver.
import { describe, expect, it } from 'vitest';
import { cycles, importGraph, upwardImports } from '../helpers/import-graph.js';

const graph = importGraph(['src']);
const PARTS = ['statements', 'maps', 'records', 'memory', 'scalars', 'builtins'].map((p) => `src/codegen/program/${p}.ts`);

describe('codegen imports', () => {
  it('has the six parts of the program generator', () => {
    for (const part of PARTS) expect(graph.has(part), part).toBe(true);
  });

  it('has no part importing another part or the generator that wires them', () => {
    const crossings = PARTS.flatMap((part) =>
      [...graph.get(part)!].filter((to) => to.startsWith('src/codegen/program/') && to !== 'src/codegen/program/context.ts').map((to) => `${part} -> ${to}`),
    );
    expect(crossings).toEqual([]);
  });

  it('has no cycle in codegen/ or through the pipeline driver', () => {
    const sub = new Map([...graph].filter(([f]) => f.startsWith('src/codegen/') || f === 'src/compiler.ts'));
    expect(cycles(sub)).toEqual([]);
  });

  it('imports only what lies below codegen/: the pipeline driver imports codegen, not the other way', () => {
    const layerOf = (f: string): string | undefined => {
      if (f === 'src/compiler.ts') return 'compiler';
      const m = /^src\/([^/]+)\//.exec(f);
      return m ? m[1] : 'leaf';
    };
    const bad = upwardImports(graph, layerOf, ['leaf', 'frontend', 'plan', 'codegen', 'compiler', 'native', 'kafka', 'runtime', 'export', 'repl', 'demo', 'agent', 'kube', 'cli']);
    expect(bad.filter((b) => b.startsWith('src/codegen/') || b.startsWith('src/compiler.ts'))).toEqual([]);
  });
});
