// printf/cat/system format strings, with bpftrace's conversions: flags `-+ #0`, a width, a
// precision, length modifiers hh h l ll z j t, and d i u o x X c s p, and r, rx, rh (a buf() as hex escapes, all escaped, or spaced hex).
import type { KType } from './ast.js';
import { typeName } from './types.js';

interface FormatSpec {
  /** The whole specifier as written, e.g. `%-10lu`. */
  text: string;
  conversion: 'd' | 'i' | 'u' | 'o' | 'x' | 'X' | 'c' | 's' | 'p' | 'r' | 'rx' | 'rh';
}

type FormatParse = { ok: true; specs: FormatSpec[] } | { ok: false; error: string };

const SPEC = /%(?:%|([-+ #0]*)(\d+|\*)?(?:\.(\d+|\*))?(hh|h|ll|l|z|j|t)?(r[xh]|[a-zA-Z]?))/g;

export function parseFormat(fmt: string): FormatParse {
  const specs: FormatSpec[] = [];
  for (const m of fmt.matchAll(SPEC)) {
    if (m[0] === '%%') continue;
    const [text, , width, precision, , conv] = m;
    if (width === '*' || precision === '*') return { ok: false, error: `'*' widths are not supported in ${text}: write the width in the format` };
    if (!conv) return { ok: false, error: `incomplete format specifier '${text}' at the end of the format` };
    if (!/^(?:[diuoxXcspr]|r[xh])$/.test(conv)) return { ok: false, error: `invalid format specifier '${text}' (expected one of %d %i %u %o %x %X %c %s %p %r %rx %rh)` };
    specs.push({ text: text!, conversion: conv as FormatSpec['conversion'] });
  }
  return { ok: true, specs };
}

/** Why an argument does not fit its specifier, or undefined when it does. */
export function specMismatch(spec: FormatSpec, t: KType): string | undefined {
  if (t.kind === 'none') return `${spec.text} was given a value of no type`;
  if (spec.conversion.startsWith('r')) {
    return t.kind === 'buf' ? undefined : `${spec.text} expects a buffer from buf(), but the argument is ${typeName(t)}`;
  }
  if (spec.conversion === 's') {
    // %s prints strings and the values that print as text (symbols, addresses, stacks, tuples).
    if (t.kind === 'array') return `${spec.text} expects a string, but the argument is ${typeName(t)}`;
    return t.kind === 'int' || t.kind === 'ptr' ? `${spec.text} expects a string, but the argument is ${typeName(t)} (use %d)` : undefined;
  }
  if (t.kind === 'int' || t.kind === 'ptr') return undefined;
  return `${spec.text} expects an integer, but the argument is ${typeName(t)}${t.kind === 'str' ? ' (use %s)' : ''}`;
}
