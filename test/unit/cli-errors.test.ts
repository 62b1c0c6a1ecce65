// Every error kind ends the CLI with its own message shape and exit status; an internal error says so
// and how to report it; errors that carry no kind fall where their origin says.
import { describe, expect, it } from 'vitest';
import { HELP } from '../../src/cli/args.js';
import { failureReport } from '../../src/cli/errors.js';
import { ERROR_CODES, type ErrorCode, type ErrorKind, InternalError, isKtError, KtError } from '../../src/errors.js';
import { kafkatrace } from '../helpers/cli.js';

const REPORT = '(a kafkatrace bug: please report it with the script and the command line; set KAFKATRACE_DEBUG=1 for the stack trace)\n';

/** The text each kind gives for the message `msg`. */
const SHAPES: Record<ErrorKind, string> = {
  usage: 'ERROR: msg\n',
  script: 'msg\n',
  user: 'ERROR: msg\n',
  environment: 'ERROR: msg\n',
  'kernel-feature': 'ERROR: msg\n',
  'bad-input': `ERROR: internal error: msg\n${REPORT}`,
  internal: `ERROR: internal error: msg\n${REPORT}`,
};

describe('failure reports', () => {
  it.each((Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => c !== 'unknown-option'))('%s: the shape of its kind, status 1', (code) => {
    const e = new KtError(code, 'msg');
    expect(e.kind).toBe(ERROR_CODES[code]);
    expect(failureReport(e, false)).toEqual({ text: SHAPES[e.kind], status: 1 });
  });

  it('unknown-option: the message, then the whole usage, as bpftrace prints it', () => {
    expect(failureReport(new KtError('unknown-option', 'msg'), false)).toEqual({ text: `ERROR: msg\n\n${HELP}`, status: 1 });
  });

  it('shows the stack of an internal error only when debugging', () => {
    const e = new InternalError('no such map');
    expect(failureReport(e, false).text).not.toContain(' at ');
    const debug = failureReport(e, true).text;
    expect(debug).toMatch(/^ERROR: internal error: InternalError: no such map\n {4}at /);
    expect(debug.endsWith(REPORT)).toBe(true);
  });

  it('sorts errors without a kind by where they come from', () => {
    expect(failureReport(Object.assign(new Error('Operation not permitted'), { errno: 1 }), false).text).toBe('ERROR: Operation not permitted\n');
    expect(failureReport(Object.assign(new Error("EACCES: permission denied, mkdir '/x'"), { code: 'EACCES' }), false).text).toBe(
      "ERROR: EACCES: permission denied, mkdir '/x'\n",
    );
    expect(failureReport(new TypeError('x is undefined'), false)).toEqual({ text: `ERROR: internal error: x is undefined\n${REPORT}`, status: 1 });
    expect(failureReport('thrown text', false).text).toBe(`ERROR: internal error: thrown text\n${REPORT}`);
  });

  it('matches codes, never messages', () => {
    const e = new KtError('bad-command', 'command not found: x');
    expect(isKtError(e)).toBe(true);
    expect(isKtError(e, 'usage', 'bad-command')).toBe(true);
    expect(isKtError(e, 'usage')).toBe(false);
    expect(isKtError(new Error('bad-command'), 'bad-command')).toBe(false);
  });
});

describe('failure reports from the CLI', () => {
  it('usage and script errors, each in its shape', () => {
    const usage = kafkatrace(['-p', 'abc', '-e', 'BEGIN {}']);
    expect(usage).toMatchObject({ code: 1, stdout: '', stderr: "ERROR: pid 'abc' is not a valid decimal number\n" });
    // An option that does not exist: the message, then the whole usage, as bpftrace.
    const option = kafkatrace(['-idonotexist']);
    expect(option.code).toBe(1);
    expect(option.stderr).toMatch(/^ERROR: Unknown option '-i'.*\n\n/);
    expect(option.stderr).toContain('\nUSAGE\n');
    const script = kafkatrace(['check', '-e', 'BEGIN { nosuch(); }']);
    expect(script.code).toBe(1);
    expect(script.stderr).toMatch(/^-e:1:9: ERROR: /);
    const netns = kafkatrace(['--netns', '/etc/hostname', '-e', 'kafka:produce { @n = count(); }']);
    expect(netns).toMatchObject({ code: 1, stdout: '', stderr: "ERROR: --netns '/etc/hostname' is not a network namespace (ip netns add makes them in /run/netns; /proc/PID/ns/net is a process's)\n" });
    expect(kafkatrace(['--netns', '/proc/self/ns/mnt', '-e', 'kafka:produce { @n = count(); }']).stderr).toBe("ERROR: --netns '/proc/self/ns/mnt' is a mnt namespace, not a network namespace\n");
    const tool = kafkatrace(['run', 'no-such-tool-here']);
    expect(tool).toMatchObject({ code: 1, stderr: "ERROR: no tool named 'no-such-tool-here' (kafkatrace run --list shows the tools)\n" });
  });

  it("a binary that -l cannot read is the user's mistake, not an internal error", () => {
    expect(kafkatrace(['-l', 'uprobe:/no/such/binary:*'])).toMatchObject({ code: 1, stdout: '', stderr: 'ERROR: no such binary or library: /no/such/binary\n' });
    expect(kafkatrace(['-l', 'uprobe:/etc/hostname:*'])).toMatchObject({ code: 1, stdout: '', stderr: 'ERROR: /etc/hostname is not an ELF file\n' });
  });
});
