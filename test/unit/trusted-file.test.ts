// readTrustedFile: what kafkatrace reads as root (an agent configuration, a kubeconfig) must be a
// regular file of root's or the running user's that nobody else can write, checked on the open
// descriptor; a symbolic link at the last step is refused unless followed by choice.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTrustedFile, type TrustedFileOptions } from '../../src/trusted-file.js';

const dir = mkdtempSync(join(tmpdir(), 'kt-trusted-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = (followLinks: boolean, path: string): TrustedFileOptions => ({ what: 'the configuration', shown: path, code: 'config-unreadable', followLinks });
const file = (name: string, mode: number): string => {
  const path = join(dir, name);
  writeFileSync(path, `${name}\n`);
  chmodSync(path, mode);
  return path;
};

describe('readTrustedFile', () => {
  it('reads a file only its owner can write', () => {
    const path = file('ok', 0o644);
    expect(readTrustedFile(path, opts(false, path)).toString()).toBe('ok\n');
  });

  it('refuses a file its group or others can write, saying which', () => {
    const group = file('group', 0o664);
    const others = file('others', 0o606);
    expect(() => readTrustedFile(group, opts(false, group))).toThrow(`not using the configuration ${group}: it is writable by its group (mode 664)`);
    expect(() => readTrustedFile(others, opts(false, others))).toThrow(`not using the configuration ${others}: it is writable by others (mode 606)`);
  });

  it.runIf(process.geteuid?.() === 0)("refuses another user's file", () => {
    const path = file('theirs', 0o644);
    chownSync(path, 4321, 4321);
    expect(() => readTrustedFile(path, opts(false, path))).toThrow(`not using the configuration ${path}: it belongs to uid 4321, not to uid 0 or root`);
  });

  it('refuses a symbolic link unless told to follow it, and then checks the file it names', () => {
    const target = file('target', 0o644);
    const link = join(dir, 'link');
    symlinkSync(target, link);
    expect(() => readTrustedFile(link, opts(false, link))).toThrow(`cannot read the configuration ${link}: it is a symbolic link`);
    expect(readTrustedFile(link, opts(true, link)).toString()).toBe('target\n');
    chmodSync(target, 0o666);
    expect(() => readTrustedFile(link, opts(true, link))).toThrow('it is writable by others (mode 666)');
  });

  it('refuses what is not a regular file without blocking on it, and a path with nothing there', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '644', fifo]);
    expect(() => readTrustedFile(fifo, opts(false, fifo))).toThrow(`cannot read the configuration ${fifo}: not a regular file`);
    expect(() => readTrustedFile(dir, opts(false, dir))).toThrow('not a regular file');
    const none = join(dir, 'none');
    expect(() => readTrustedFile(none, opts(false, none))).toThrow(`cannot read the configuration ${none}: no such file`);
  });
});
