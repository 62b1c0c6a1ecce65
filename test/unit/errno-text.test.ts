// strerror()'s messages are the C library's (bpftrace prints std::strerror): the generated table must
// say what this machine's C library says, through Python's os.strerror, for every number Linux
// defines and for numbers it does not.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ERRNO_TEXT, strerror } from '../../src/runtime/format/errno-text.js';

describe('strerror messages', () => {
  it("are the C library's (regenerate: node scripts/gen-errno.mjs)", () => {
    const numbers = [...ERRNO_TEXT.keys(), ERRNO_TEXT.length, 500, -1];
    const r = spawnSync('python3', ['-c', `import json, os, sys; print(json.dumps([os.strerror(n) for n in json.loads(sys.argv[1])]))`, JSON.stringify(numbers)], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const libc = JSON.parse(r.stdout) as string[];
    expect(ERRNO_TEXT.length).toBeGreaterThan(130);
    expect(numbers.map(strerror)).toEqual(libc);
  });
});
