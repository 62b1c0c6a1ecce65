// `kafkatrace agent` on the command line: its help, its usage errors, and a configuration mistake as
// one FILE:LINE:COL line with status 1, never a stack trace (no root needed: the file is read first).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_HELP, parseCli } from '../../src/cli/args.js';
import { kafkatrace } from '../helpers/cli.js';

describe('kafkatrace agent command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kt-agent-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('parses --config and --help', () => {
    expect(parseCli(['agent', '--config', 'a.yaml'])).toMatchObject({ command: 'agent', configFile: 'a.yaml' });
    expect(parseCli(['agent', '--help'])).toMatchObject({ command: 'agent', help: true });
    const usage = (argv: string[]) => () => parseCli(argv);
    expect(usage(['agent'])).toThrow('agent needs --config FILE');
    expect(usage(['agent', 'a.yaml'])).toThrow("agent takes no arguments, not 'a.yaml' (use --config FILE)");
    expect(usage(['agent', '--config', 'a.yaml', '-e', 'BEGIN {}'])).toThrow('agent does not take -e');
    expect(usage(['run', 'syscount', '--config', 'a.yaml'])).toThrow('--config only applies to agent, not to run');
  });

  it('prints its help, and the main help names it', () => {
    const r = kafkatrace(['agent', '--help']);
    expect(r).toMatchObject({ code: 0, stdout: AGENT_HELP, stderr: '' });
    expect(kafkatrace(['--help']).stdout).toContain('kafkatrace agent --config FILE');
  });

  it('reports a mistake in the configuration at its place, status 1', () => {
    const cfg = join(dir, 'agent.yaml');
    writeFileSync(cfg, 'scripts:\n  - name: a\n    tool: syscount\n    arg: [1]\n');
    chmodSync(cfg, 0o644);
    expect(kafkatrace(['agent', '--config', cfg])).toEqual({ code: 1, stdout: '', stderr: `${cfg}:4:5: ERROR: unknown field 'arg' in scripts[0] (known: name, tool, file, args, labels, print)\n` });
    expect(kafkatrace(['agent', '--config', join(dir, 'none.yaml')])).toEqual({ code: 1, stdout: '', stderr: `ERROR: cannot read the configuration ${join(dir, 'none.yaml')}: no such file\n` });
  });
});
