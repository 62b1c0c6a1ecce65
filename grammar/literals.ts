// Decoding of integer and string literals, with the errors a user can make in them.

const MAX_U64 = (1n << 64n) - 1n;

type IntResult = { value: bigint } | { error: string };

// C-like integer suffixes bpftrace accepts (`10u`, `10ul`, `10ull`, `10l`, `10ll`, any case).
const suffixRe = /(?:[uU](?:ll|LL|[lL])?|(?:ll|LL|[lL])[uU]?)$/;

/** Parses `42`, `0x1F`, `0b101`, `0755` (octal), `1_000_000`, `1e6`, `10ul`. */
export function parseInteger(raw: string): IntResult {
  const invalid = { error: `invalid integer literal '${raw}'` };
  const isHex = /^0[xX]/.test(raw);
  // For hex, a suffix is only a suffix when it cannot be a hex digit (`0xFFul`: `ul`; `0x1b`: none).
  const body = raw.replace(suffixRe, '');
  if (body.length === 0) return invalid;
  let value: bigint;
  if (isHex) {
    const digits = body.slice(2);
    if (!/^[0-9a-fA-F](?:[0-9a-fA-F_]*[0-9a-fA-F])?$/.test(digits)) return invalid;
    value = BigInt('0x' + digits.replace(/_/g, ''));
  } else if (/^0[bB]/.test(body)) {
    const digits = body.slice(2);
    if (!/^[01](?:[01_]*[01])?$/.test(digits)) return invalid;
    value = BigInt('0b' + digits.replace(/_/g, ''));
  } else {
    const m = /^([0-9](?:[0-9_]*[0-9])?)(?:[eE]([0-9]+))?$/.exec(body);
    if (!m) return invalid;
    const digits = m[1]!.replace(/_/g, '');
    if (m[2] !== undefined) {
      const exp = Number(m[2]);
      if (exp > 19) return { error: `integer literal '${raw}' does not fit in 64 bits` };
      value = BigInt(digits) * 10n ** BigInt(exp);
    } else if (digits.length > 1 && digits.startsWith('0')) {
      if (!/^[0-7]+$/.test(digits)) return { error: `invalid octal literal '${raw}' (digits 8 and 9 are not octal)` };
      value = BigInt('0o' + digits);
    } else {
      value = BigInt(digits);
    }
  }
  if (value > MAX_U64) return { error: `integer literal '${raw}' does not fit in 64 bits` };
  return { value };
}

/**
 * A positional parameter as a number, as bpftrace reads one (C's strtoll, base 0): decimal, `0x` hex
 * or `0` octal, with an optional `-`; a parameter not given is 0, and text is undefined.
 */
export function positionalInteger(text: string | undefined): bigint | undefined {
  if (text === undefined) return 0n;
  const m = /^(-?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text.trim());
  if (!m) return undefined;
  const digits = m[2]!;
  const value = /^0[0-7]+$/.test(digits) ? BigInt('0o' + digits.slice(1)) : BigInt(digits);
  return m[1] ? -value : value;
}

interface EscapeError {
  /** Offset of the backslash inside the literal's image (quotes included). */
  offset: number;
  length: number;
  message: string;
}

const simpleEscapes: Record<string, string> = {
  n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v', e: '\x1b', '?': '?',
};

/** Decodes the C escapes of a string literal's image: `"..."`, or `"...` when `closed` is false. */
export function decodeString(image: string, closed: boolean): { value: string; errors: EscapeError[] } {
  const closedEnd = closed ? image.length - 1 : image.length;
  const errors: EscapeError[] = [];
  let value = '';
  let i = 1;
  while (i < closedEnd) {
    const c = image[i]!;
    if (c !== '\\') {
      value += c;
      i++;
      continue;
    }
    const next = image[i + 1];
    if (next === undefined || i + 1 >= closedEnd) {
      errors.push({ offset: i, length: 1, message: 'a string literal cannot end with a lone backslash' });
      break;
    }
    const simple = simpleEscapes[next];
    if (simple !== undefined) {
      value += simple;
      i += 2;
    } else if (next === 'x') {
      const m = /^[0-9a-fA-F]{1,2}/.exec(image.slice(i + 2, closedEnd));
      if (!m) {
        errors.push({ offset: i, length: 2, message: "'\\x' must be followed by hex digits" });
        i += 2;
        continue;
      }
      value += String.fromCharCode(parseInt(m[0], 16));
      i += 2 + m[0].length;
    } else if (next >= '0' && next <= '7') {
      const m = /^[0-7]{1,3}/.exec(image.slice(i + 1, closedEnd))!;
      const code = parseInt(m[0], 8);
      if (code > 0xff) {
        errors.push({ offset: i, length: 1 + m[0].length, message: `octal escape '\\${m[0]}' is out of range` });
      }
      value += String.fromCharCode(code & 0xff);
      i += 1 + m[0].length;
    } else {
      errors.push({ offset: i, length: 2, message: `invalid escape sequence '\\${next}'` });
      value += next;
      i += 2;
    }
  }
  return { value, errors };
}
