import { describe, expect, it } from 'vitest';
import { compileBody } from '../../src/kafka/wire/body-compiler.js';
import { decodeBody, interpretBody } from '../../src/kafka/wire/decoder.js';
import { Reader } from '../../src/kafka/wire/reader.js';
import { MESSAGE_SPECS } from '../../src/kafka/wire/schemas/generated.js';
import { requestSpec } from '../../src/kafka/wire/schemas/index.js';
import { encodeBody } from '../fixtures/kafka/encoder.js';
import { sampleBody } from '../fixtures/kafka/samples.js';

/** Interpreted and compiled-with-fallback results of the same bytes, comparable with toEqual. */
function both(spec: (typeof MESSAGE_SPECS)[number], v: number, data: Uint8Array, declared: number) {
  const viaInterpreter = interpretBody(spec, v, Reader.of(data, declared));
  const viaDecodeBody = decodeBody(spec, v, Reader.of(data, declared));
  return {
    interpreted: { body: viaInterpreter.body, reason: viaInterpreter.error?.reason },
    decoded: { body: viaDecodeBody.body, reason: viaDecodeBody.error?.reason },
  };
}

describe('compiled body decoders', () => {
  it('decode every message and version exactly as the interpreter does, whole and cut short', () => {
    let cuts = 0;
    for (const spec of MESSAGE_SPECS) {
      for (let v = spec.valid[0]; v <= spec.valid[1]; v++) {
        for (const nulls of [false, true]) {
          const bytes = encodeBody(spec, v, sampleBody(spec, v, nulls).value);
          const whole = both(spec, v, bytes, bytes.length);
          expect(whole.decoded, `${spec.name} ${spec.kind} v${v}`).toEqual(whole.interpreted);
          // Cut short (not copied) and cut off (the frame ends early): the fallback keeps the same partial body.
          for (const cut of [1, Math.floor(bytes.length / 2), bytes.length - 1]) {
            if (cut <= 0 || cut >= bytes.length) continue;
            const truncated = both(spec, v, bytes.subarray(0, cut), bytes.length);
            expect(truncated.decoded, `${spec.name} v${v} copied to ${cut}`).toEqual(truncated.interpreted);
            // Some cuts fall in skipped bytes or record data, which decode without reading them.
            if (truncated.decoded.reason === 'truncated') cuts++;
            const short = both(spec, v, bytes.subarray(0, cut), cut);
            expect(short.decoded, `${spec.name} v${v} ending at ${cut}`).toEqual(short.interpreted);
          }
        }
      }
    }
    // The fallback ran on many of them.
    expect(cuts).toBeGreaterThan(500);
  });

  it('report trailing bytes after a complete body, keeping the body', () => {
    const spec = requestSpec(12)!; // Heartbeat
    const bytes = encodeBody(spec, 0, sampleBody(spec, 0, false).value);
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes);
    const result = decodeBody(spec, 0, Reader.of(padded));
    expect(result.error?.reason).toBe('trailing');
    expect(result.body).toEqual(interpretBody(spec, 0, Reader.of(padded)).body);
  });

  it('build structs of one message version with the same fields in the same order', () => {
    const spec = requestSpec(0)!; // Produce
    const decode = compileBody(spec, 3, { tagged: () => undefined });
    const bytes = encodeBody(spec, 3, sampleBody(spec, 3, false).value);
    const a = decode(Reader.of(bytes));
    const b = decode(Reader.of(bytes));
    expect(Object.keys(a)).toEqual(['TransactionalId', 'Acks', 'TimeoutMs', 'TopicData']);
    expect(Object.keys(b)).toEqual(Object.keys(a));
    expect(a).not.toBe(b);
  });

  it('quote field names into the generated code, whatever they hold', () => {
    const spec = {
      key: 1000, kind: 'request' as const, name: 'Odd', valid: [0, 0] as const, flexible: null,
      fields: [{ n: "a'\"}; throw 1; //\n", t: 'int8' as const, v: [0, 0] as const }],
    };
    const decode = compileBody(spec, 0, { tagged: () => undefined });
    expect(decode(Reader.of(Uint8Array.from([0xff])))).toEqual({ "a'\"}; throw 1; //\n": -1 });
  });
});
