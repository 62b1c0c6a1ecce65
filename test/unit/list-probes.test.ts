// -l lists uprobes as bpftrace 0.17 does: a path as written (its wildcards matching files), a library
// by the file it resolves to, uretprobes as uretprobes, a wildcard provider with a file, and -p's
// process files through /proc/PID/root.
import { describe, expect, it } from 'vitest';
import { listProbes } from '../../src/frontend/list-probes.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

const system = new FakeSystem();
const lines = (glob: string | undefined, pid?: number): string[] => listProbes(glob, false, system, pid).split('\n').filter(Boolean);

describe('-l uprobes', () => {
  it('shows a path as written and a library as its file', () => {
    expect(lines('uprobe:/usr/bin/bash:read*')).toEqual(['uprobe:/usr/bin/bash:readline']);
    expect(lines('uprobe:libc:*alloc')).toEqual(['uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:calloc', 'uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc', 'uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:realloc']);
  });

  it('lists uretprobes as uretprobes', () => {
    expect(lines('uretprobe:/usr/bin/bash:readline')).toEqual(['uretprobe:/usr/bin/bash:readline']);
  });

  it('matches files with a wildcard in the path', () => {
    expect(lines('uprobe:/usr/*/bash:rl_*')).toEqual(['uprobe:/usr/bin/bash:rl_getc']);
    expect(lines('uprobe:/usr/lib/*/libc*:free')).toEqual(['uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:free']);
    expect(() => lines('uprobe:/nowhere/*:x')).toThrow('no such binary or library: /nowhere/*');
  });

  it('lists a file\'s uprobes for a wildcard provider', () => {
    expect(lines('*:/usr/bin/bash:execute*')).toEqual(['uprobe:/usr/bin/bash:execute_command']);
  });

  it("lists a process's uprobes with -p", () => {
    expect(lines('uprobe:*', 4242)).toContain('uprobe:/proc/4242/root/usr/bin/bash:readline');
    expect(lines('uprobe:*', 4242)).toContain('uprobe:/proc/4242/root/usr/lib/x86_64-linux-gnu/libc.so.6:malloc');
    expect(lines('uprobe:*libc*:free', 4242)).toEqual(['uprobe:/proc/4242/root/usr/lib/x86_64-linux-gnu/libc.so.6:free']);
    expect(lines(undefined, 4242)).toContain('uprobe:/proc/4242/root/usr/bin/bash:shell_execve');
    expect(() => lines('uprobe:*', 1)).toThrow('no process with pid 1');
  });

  it('-v shows a uprobe\'s parameters from the DWARF of its binary, without the `;` of tracepoint fields', () => {
    expect(listProbes('uprobe:/opt/app/server:*', true, system)).toBe(
      [
        'uprobe:/opt/app/server:handle',
        '    struct Request* req',
        '    int fd',
        '    const char* name',
        '    double ratio',
        'uprobe:/opt/app/server:main',
        '    int argc',
        '    char** argv',
        'uprobe:/opt/app/server:wide',
        ...['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((n) => `    long int ${n}`),
        '',
      ].join('\n'),
    );
    // Nothing under a uretprobe (as bpftrace), nor for a binary without debug info.
    expect(listProbes('uretprobe:/opt/app/server:main', true, system)).toBe('uretprobe:/opt/app/server:main\n');
    expect(listProbes('uprobe:/usr/bin/bash:readline', true, system)).toBe('uprobe:/usr/bin/bash:readline\n');
    expect(listProbes('tracepoint:syscalls:sys_enter_read', true, system)).toContain('\n    unsigned int fd;\n');
  });
});

describe('-l search expressions', () => {
  it("refuses a character bpftrace's lexer has no token for, as bpftrace does", () => {
    expect(() => lines('\\n')).toThrow("invalid character '\\'");
    expect(() => lines('sys`x')).toThrow("invalid character '`'");
    expect(() => lines('a\x01b')).toThrow("invalid character '\\x01'");
    // After the first ':' a backslash escapes a path's character, as in bpftrace.
    expect(lines('uprobe:/usr/bin/bash:read\\line')).toEqual([]);
  });
});
