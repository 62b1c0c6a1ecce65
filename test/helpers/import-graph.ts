// The project's import graph, read the way the compiler reads it (ts.preProcessFile), for the tests
// that keep folders in layers and files out of cycles.
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export const REPO = resolve(dirname(new URL(import.meta.url).pathname), '../..');

/** File (repo-relative, e.g. `src/kafka/index.ts`) -> the project files it imports, type-only included. */
export type ImportGraph = Map<string, Set<string>>;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (entry.endsWith('.ts') && !entry.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function resolveSpecifier(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

export function importGraph(roots: readonly string[] = ['src', 'grammar']): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const root of roots) {
    for (const file of sources(join(REPO, root))) {
      const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      const targets = new Set<string>();
      for (const { fileName } of info.importedFiles) {
        const target = resolveSpecifier(file, fileName);
        if (target !== undefined) targets.add(relative(REPO, target));
      }
      graph.set(relative(REPO, file), targets);
    }
  }
  return graph;
}

/** Strongly connected components with more than one file (or a file importing itself): the cycles. */
export function cycles(graph: ImportGraph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next++;
    stack.push(node);
    onStack.add(node);
    for (const to of graph.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || graph.get(node)?.has(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

/**
 * The imports that break a layer order: `layerOf` names each file's layer (or undefined for files the
 * rule does not cover) and `order` lists the layers lowest first; a file may import its own layer and
 * those before it.
 */
export function upwardImports(
  graph: ImportGraph,
  layerOf: (file: string) => string | undefined,
  order: readonly string[],
): string[] {
  const rank = (file: string): number | undefined => {
    const layer = layerOf(file);
    if (layer === undefined) return undefined;
    const at = order.indexOf(layer);
    if (at < 0) throw new Error(`${file}: layer ${layer} is not in the order`);
    return at;
  };
  const bad: string[] = [];
  for (const [from, targets] of graph) {
    const fromRank = rank(from);
    if (fromRank === undefined) continue;
    for (const to of targets) {
      const toRank = rank(to);
      if (toRank !== undefined && toRank > fromRank) bad.push(`${from} -> ${to}`);
    }
  }
  return bad.sort();
}
