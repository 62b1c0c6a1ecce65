// Positional parameters read as numbers the way bpftrace reads them (strtoll, base 0).
import { describe, expect, it } from 'vitest';
import { positionalInteger } from '../../grammar/literals.js';

describe('positionalInteger', () => {
  it('reads decimal, 0x hex and 0 octal, with a sign; not given is 0', () => {
    expect(positionalInteger('123')).toBe(123n);
    expect(positionalInteger('0775')).toBe(0o775n);
    expect(positionalInteger('0x1F')).toBe(31n);
    expect(positionalInteger('-12')).toBe(-12n);
    expect(positionalInteger('0')).toBe(0n);
    expect(positionalInteger(undefined)).toBe(0n);
  });

  it('leaves text as text', () => {
    for (const text of ['hello', '', '12abc', '0x', '089', '1e3', '--1']) expect(positionalInteger(text), text).toBeUndefined();
  });
});
