// The one quoting rule and the one cache of src/kafka's code generators (wire/generated-code.ts):
// a name from a script, a schema or the wire stays a string wherever it lands in generated code.
import { describe, expect, it } from 'vitest';
import type { KafkaExchange } from '../../src/kafka/model.js';
import { compileArgs } from '../../src/kafka/probes/firings.js';
import { cached, literal } from '../../src/kafka/wire/generated-code.js';

const HOSTILE = [
  '"; throw new Error("injected"); "',
  "'; throw 1; //",
  'a\\',
  '\\"',
  'line\nbreak\r',
  '\u2028throw 1;\u2029',
  '`${process.exit(1)}`',
  '</script><!--',
  '\u0000\u001f\u007f',
  '\ud800 lone surrogate',
  '',
];

describe('generated code', () => {
  it('reads every literal back as the string it was made of', () => {
    for (const s of HOSTILE) expect(new Function(`return ${literal(s)};`)()).toBe(s);
  });

  it('keeps a literal inside a line comment (U+2028 and U+2029 end one in JavaScript)', () => {
    const s = '\u2028x = 2; //';
    expect(new Function(`let x = 1;\n// ${literal(s)}\nreturn x;`)()).toBe(1);
    for (const h of HOSTILE) expect(new Function(`let x = 1;\n// ${literal(h)}\nreturn x;`)()).toBe(1);
  });

  it('builds args of any name from the layer that has them, and none from Object.prototype', () => {
    const ex = {} as KafkaExchange;
    const names = [...HOSTILE, 'toString', 'constructor'];
    const layer = Object.fromEntries(HOSTILE.map((name, i) => [name, BigInt(i)]));
    const args = compileArgs(names)(ex, {}, layer);
    expect(args).toEqual(layer);
    expect(Object.hasOwn(args, 'toString')).toBe(false);
  });

  it('compiles the same inputs once, wherever they come from', () => {
    expect(compileArgs(['topic', 'records'])).toBe(compileArgs(['topic', 'records']));
    expect(compileArgs(['records', 'topic'])).not.toBe(compileArgs(['topic', 'records']));
    let made = 0;
    const make = (): undefined => {
      made++;
      return undefined;
    };
    const key = `test ${literal('\u2028')}`;
    expect(cached(key, make)).toBeUndefined();
    expect(cached(key, make)).toBeUndefined();
    expect(made).toBe(1);
  });
});
