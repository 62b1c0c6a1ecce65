// pton()'s address parsing against the C library's inet_pton(3) (through Python's socket module), on
// random IPv4 and IPv6 addresses in every compressed form and on malformed ones.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { addressBytes } from '../../src/frontend/inet.js';
import { rng } from '../helpers/seeded.js';

function randomAddresses(seed: number, n: number): string[] {
  const r = rng(seed);
  const int = (k: number): number => Math.floor(r() * k);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) {
      out.push(Array.from({ length: 4 }, () => String(int(r() < 0.2 ? 300 : 256))).join('.'));
      continue;
    }
    // Runs of zero words, so that `::` lands anywhere; a group sometimes upper case or padded.
    const words = Array.from({ length: 8 }, () => (r() < 0.4 ? 0 : int(0x10000)));
    const groups = words.map((w) => (r() < 0.3 ? w.toString(16).toUpperCase() : r() < 0.2 ? w.toString(16).padStart(4, '0') : w.toString(16)));
    const from = int(8);
    const to = from + int(8 - from);
    out.push(r() < 0.5 && to > from ? `${groups.slice(0, from).join(':')}::${groups.slice(to).join(':')}` : groups.join(':'));
  }
  return out;
}

const MALFORMED = ['1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '', ':', ':::', '1::2::3', '12345::', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', 'g::1', '::1.2.3.4', '1:2:3:4:5:6:7::8'];

/** What inet_pton(3) makes of each address: its bytes in hex, or null when it refuses it. */
function inetPton(addresses: string[]): (string | null)[] {
  const script = [
    'import json, socket, sys',
    'out = []',
    'for a in json.load(sys.stdin):',
    '    r = None',
    '    for af in (socket.AF_INET, socket.AF_INET6):',
    '        try:',
    '            r = socket.inet_pton(af, a).hex(); break',
    '        except OSError: pass',
    '    out.append(r)',
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script], { input: JSON.stringify(addresses), encoding: 'utf8' })) as (string | null)[];
}

describe('addressBytes', () => {
  it('reads what inet_pton reads, and refuses what it refuses', () => {
    const addresses = [...randomAddresses(15, 600), ...MALFORMED.filter((a) => a !== '::1.2.3.4')];
    const truth = inetPton(addresses);
    addresses.forEach((a, i) => {
      const ours = addressBytes(a);
      expect(ours === undefined ? null : Buffer.from(ours).toString('hex'), a).toBe(truth[i]);
    });
  });
  it('refuses the IPv4-embedded IPv6 form, as bpftrace 0.17 does', () => {
    expect(addressBytes('::1.2.3.4')).toBeUndefined();
    expect(addressBytes('::ffff:1.2.3.4')).toBeUndefined();
  });
});
