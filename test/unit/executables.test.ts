import { describe, expect, it } from 'vitest';
import { findOnPath, isExecutableFile } from '../../src/executables.js';

describe('findOnPath', () => {
  it('finds a program in the first $PATH directory that holds it', () => {
    expect(findOnPath('sh', '/nonexistent:/bin:/usr/bin')).toBe('/bin/sh');
  });

  it('skips $PATH entries it cannot search, as execvp does, instead of failing', () => {
    // A file where a directory should be: stat fails with ENOTDIR, not ENOENT.
    expect(isExecutableFile('/etc/passwd/sh')).toBe(false);
    expect(findOnPath('sh', '/etc/passwd:/bin')).toBe('/bin/sh');
  });

  it('says undefined for a program nowhere on $PATH', () => {
    expect(findOnPath('kafkatrace-no-such-program', '/bin:/usr/bin')).toBeUndefined();
  });
});
