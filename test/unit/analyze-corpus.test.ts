import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/frontend/diagnostics.js';
import { frontend } from '../../src/frontend/index.js';
import { realSystem } from '../../src/frontend/system.js';

// Every shipped script must pass analysis against this machine (BTF is always readable; tracefs when root).
const DIRS = ['stdlib', 'examples'];

describe('shipped scripts analyze cleanly on this machine', () => {
  const files = DIRS.flatMap((d) => {
    try {
      return readdirSync(d).filter((f) => f.endsWith('.ktr')).map((f) => join(d, f));
    } catch {
      return [];
    }
  });

  it('finds scripts to check', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  for (const file of files) {
    it(file, () => {
      const source = readFileSync(file, 'utf8');
      const r = frontend(source, file, { positional: [], unsafe: false, system: realSystem() });
      expect(r.diagnostics.map((d) => formatDiagnostic(d, source)).join('\n\n')).toBe('');
      expect(r.analysis).toBeDefined();
    });
  }
});
