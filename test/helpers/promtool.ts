// Prometheus's own checker of rules and PromQL: promtool, from Debian's prometheus package
// (scripts/install-deps.sh installs it). A missing promtool fails the tests that need it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface PromtoolResult {
  status: number | null;
  /** stdout and stderr together, as promtool's messages go to either. */
  output: string;
}

export function promtool(args: string[], cwd?: string): PromtoolResult {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`cannot run promtool (scripts/install-deps.sh installs Debian's prometheus package): ${r.error.message}`);
  return { status: r.status, output: r.stdout + r.stderr };
}

/**
 * `promtool check rules` on PromQL expressions, each wrapped as a recording rule: what Prometheus
 * would say of their syntax and types.
 */
export function checkExpressions(exprs: string[]): PromtoolResult {
  const dir = mkdtempSync(join(tmpdir(), 'kt-promql-'));
  try {
    const file = join(dir, 'exprs.yml');
    writeFileSync(file, stringify({ groups: [{ name: 'exprs', rules: exprs.map((expr, i) => ({ record: `expr_${i}`, expr })) }] }));
    return promtool(['check', 'rules', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
