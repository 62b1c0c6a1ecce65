import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/frontend/analyze.js';
import { parse } from '../../src/frontend/parse.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

// Analysis must turn any script the parser accepts into diagnostics, never into an internal error.
const SEEDS = [
  'tracepoint:syscalls:sys_enter_openat /comm == "bash"/ { @[str(args.filename)] = count(); }',
  'BEGIN { $x = 1; $y = (1, "a"); @m[$x, comm] = sum($x); printf("%d %s\\n", $y.0, $y.1); }',
  'kprobe:vfs_read { @s[tid] = nsecs; } kretprobe:vfs_read /@s[tid]/ { @h = hist(nsecs - @s[tid]); delete(@s[tid]); }',
  'kafka:fetch { @lag[args.group, args.topic] = max(args.lag); } interval:s:1 { print(@lag, 10); clear(@lag); }',
  'BEGIN { @l = lhist(5, 0, 10, 1); @c++; if (@c > 1) { exit(); } else { $i = 0; while ($i < 3) { $i += 1; } } }',
  'END { for ($kv : @m) { printf("%s\\n", $kv.0); } } BEGIN { @m["x"] = 1; }',
  'uprobe:bash:readline { printf("%s %d\\n", str(arg0), retval ? 1 : 0); } t:sched:sched_switch { @[args.prev_comm] = count(); }',
];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const PIECES = ['(', ')', '{', '}', ';', ',', '$x', '@m', '@', 'args', '.', '0', '"s"', 'count()', 'comm', '+', '==', '<', '!', '[', ']', 'str(', 'pid', '$1', '$#', 'probe'];

describe('analysis robustness', () => {
  it('never reports an internal error on mutated scripts', () => {
    const next = rng(42);
    const system = new FakeSystem();
    let analyzed = 0;
    for (let i = 0; i < 3000; i++) {
      let src = SEEDS[Math.floor(next() * SEEDS.length)]!;
      const edits = 1 + Math.floor(next() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(next() * src.length);
        const r = next();
        if (r < 0.4) src = src.slice(0, at) + src.slice(at + 1 + Math.floor(next() * 4));
        else if (r < 0.8) src = src.slice(0, at) + PIECES[Math.floor(next() * PIECES.length)]! + src.slice(at);
        else {
          const b = Math.floor(next() * src.length);
          src = src.slice(0, Math.min(at, b)) + src.slice(Math.max(at, b)) + src.slice(Math.min(at, b), Math.max(at, b));
        }
      }
      const parsed = parse(src, 'm.ktr');
      if (!parsed.script || parsed.diagnostics.length) continue;
      analyzed++;
      const r = analyze(parsed.script, { positional: ['1'], unsafe: false, system });
      const internal = r.diagnostics.find((d) => d.message.startsWith('internal error'));
      expect(internal, `${src}\n${internal?.message}`).toBeUndefined();
      expect(r.analysis !== undefined || r.diagnostics.length > 0, src).toBe(true);
      for (const d of r.diagnostics) expect(d.loc.line, `${src}\n${JSON.stringify(d)}`).toBeGreaterThan(0);
    }
    expect(analyzed).toBeGreaterThan(300);
  });
});
