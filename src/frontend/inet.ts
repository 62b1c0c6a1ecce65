// Internet addresses written in scripts: pton()'s argument.

/**
 * The bytes of a dotted-quad IPv4 or an IPv6 address, as inet_pton(3) reads them (bpftrace 0.17 takes
 * no IPv4-embedded IPv6 form); undefined when it is neither.
 */
export function addressBytes(text: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    return parts.every((p, i) => p <= 255 && !(v4[i + 1]!.length > 1 && v4[i + 1]!.startsWith('0'))) ? Uint8Array.from(parts) : undefined;
  }
  if (!/^[0-9a-fA-F:]+$/.test(text) || text.split('::').length > 2) return undefined;
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const hi = groups(head);
  const lo = tail === undefined ? [] : groups(tail);
  const missing = 8 - hi.length - lo.length;
  if ((tail === undefined ? missing !== 0 : missing < 1) || [...hi, ...lo].some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const words = [...hi, ...new Array<string>(tail === undefined ? 0 : missing).fill('0'), ...lo].map((g) => parseInt(g, 16));
  return Uint8Array.from(words.flatMap((w) => [w >> 8, w & 0xff]));
}
