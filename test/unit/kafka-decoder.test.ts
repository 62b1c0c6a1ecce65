import { describe, expect, it } from 'vitest';
import { apiName } from '../../src/kafka/wire/api-names.js';
import { decodeBody } from '../../src/kafka/wire/decoder.js';
import { errorName } from '../../src/kafka/wire/error-codes.js';
import { decodeRequest, decodeResponse } from '../../src/kafka/wire/frame.js';
import { readRequestHeader, requestHeaderVersion, responseHeaderVersion } from '../../src/kafka/wire/headers.js';
import { Reader } from '../../src/kafka/wire/reader.js';
import { MESSAGE_SPECS } from '../../src/kafka/wire/schemas/generated.js';
import { decodedApiKeys, requestSpec, responseSpec } from '../../src/kafka/wire/schemas/index.js';
import { encodeBody, requestFrame, responseFrame, recordBatch, Writer, concat } from '../fixtures/kafka/encoder.js';
import { sampleBody } from '../fixtures/kafka/samples.js';

const frameOf = (bytes: Uint8Array, copied = bytes.length - 4) => ({
  segments: [{ offset: 0, data: bytes.subarray(4, 4 + copied) }],
  size: bytes.length - 4,
  truncated: copied < bytes.length - 4,
});

const BODY_APIS = [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 24, 26, 52, 53, 54, 55, 56, 59, 62, 63, 67, 68, 69, 70, 73, 76, 77, 78, 79, 80, 81, 82];

describe('schemas', () => {
  it('cover requests and responses of every API with bodies', () => {
    expect(decodedApiKeys()).toEqual(BODY_APIS);
    for (const k of BODY_APIS) expect(responseSpec(k)).toBeDefined();
    expect(requestSpec(1)!.valid).toEqual([0, 18]);
    expect(requestSpec(0)!.valid).toEqual([0, 13]);
    expect(requestSpec(1)!.flexible).toEqual([12, 32767]);
  });

  it('name every API key Kafka defines, and error codes', () => {
    for (let k = 0; k <= 94; k++) expect(apiName(k), `api key ${k}`).toMatch(/^[A-Z][A-Za-z]+$/);
    expect([apiName(0), apiName(4), apiName(36), apiName(68), apiName(78), apiName(95), apiName(-1)]).toEqual(['Produce', 'LeaderAndIsr', 'SaslAuthenticate', 'ConsumerGroupHeartbeat', 'ShareFetch', undefined, undefined]);
    expect([errorName(-1), errorName(0), errorName(6), errorName(27), errorName(119), errorName(500)]).toEqual([
      'UNKNOWN_SERVER_ERROR', 'NONE', 'NOT_LEADER_OR_FOLLOWER', 'REBALANCE_IN_PROGRESS', 'INVALID_REGISTRATION', 'UNKNOWN_ERROR_500',
    ]);
  });
});

describe('round trip of every API, version and direction', () => {
  for (const spec of MESSAGE_SPECS) {
    it(`${spec.name} ${spec.kind} v${spec.valid[0]}-v${spec.valid[1]}`, () => {
      for (let v = spec.valid[0]; v <= spec.valid[1]; v++) {
        for (const nulls of [false, true]) {
          const { value, expected } = sampleBody(spec, v, nulls);
          const bytes = encodeBody(spec, v, value);
          const { body, error } = decodeBody(spec, v, Reader.of(bytes));
          expect(error, `${spec.name} v${v}`).toBeUndefined();
          expect(body, `${spec.name} v${v}`).toEqual(expected);
        }
      }
    });
  }
});

describe('hand-checked bytes', () => {
  it('Produce v3 request (classic encoding)', () => {
    const batch = recordBatch({ records: 2, payload: 4 });
    const body = new Writer()
      .string(null, false) // transactional id
      .int16(-1).int32(30000)
      .int32(1).string('orders', false)
      .int32(1).int32(4).bytes(batch, false)
      .bytesOut();
    const req = decodeRequest(frameOf(requestFrame(0, 3, 42, 'app', body)));
    if ('rejected' in req) throw new Error('rejected');
    expect(req.header).toEqual({ apiKey: 0, apiVersion: 3, correlationId: 42, clientId: 'app', headerVersion: 1 });
    expect(req.failure).toBeNull();
    expect(req.body!.Acks).toBe(-1);
    const part = ((req.body!.TopicData as any)[0].PartitionData as any)[0];
    expect(part.Index).toBe(4);
    expect(part.Records).toMatchObject({ bytes: 65, records: 2, magic: 2, complete: true });
  });

  it('ApiVersions v3 request: flexible header v2 with classic client id, compact strings, tagged fields', () => {
    const payload = Uint8Array.from([
      0, 18, 0, 3, 0, 0, 0, 7, // api key 18, version 3, correlation id 7
      0, 2, 0x6b, 0x74, // client id "kt" (int16 length even in header v2)
      1, 5, 2, 0xaa, 0xbb, // header tagged fields: one, tag 5, 2 bytes
      4, 0x6b, 0x63, 0x74, // compact string "kct"
      2, 0x31, // compact string "1"
      1, 9, 1, 0, // body tagged fields: one unknown tag 9 of 1 byte
    ]);
    const req = decodeRequest(frameOf(concat(new Uint8Array([0, 0, 0, payload.length]), payload)));
    if ('rejected' in req) throw new Error('rejected');
    expect(req.header.clientId).toBe('kt');
    expect(req.header.headerVersion).toBe(2);
    expect(req.body).toEqual({ ClientSoftwareName: 'kct', ClientSoftwareVersion: '1' });
    expect(req.failure).toBeNull();
  });

  it('ApiVersions v3 response: header v0 (no tagged fields), known tagged body fields decoded', () => {
    const w = new Writer().int32(7) // correlation id, header v0
      .int16(0).uvarint(2).int16(0).int16(0).int16(11).uvarint(0) // ApiKeys: [{0, 0..11}]
      .int32(0); // throttle
    const tagged = new Writer().int64(5n);
    w.uvarint(1).uvarint(1).uvarint(8).raw(tagged.bytesOut()); // tag 1 FinalizedFeaturesEpoch
    const bytes = w.bytesOut();
    const frame = concat(new Uint8Array([0, 0, 0, bytes.length]), bytes);
    const resp = decodeResponse(frameOf(frame), 18, 3);
    expect(resp.correlationId).toBe(7);
    expect(resp.failure).toBeNull();
    expect(resp.body).toEqual({ ErrorCode: 0, ApiKeys: [{ ApiKey: 0, MinVersion: 0, MaxVersion: 11 }], ThrottleTimeMs: 0, FinalizedFeaturesEpoch: 5n });
  });

  it('Fetch v13 response with a tagged CurrentLeader struct and uuid topic ids', () => {
    const spec = responseSpec(1)!;
    const body = encodeBody(spec, 13, {
      ThrottleTimeMs: 1, ErrorCode: 0, SessionId: 9,
      Responses: [{ TopicId: '11111111-2222-4333-8444-555555555555', Partitions: [{ PartitionIndex: 2, HighWatermark: 100n, LastStableOffset: 90n, LogStartOffset: 0n, CurrentLeader: { LeaderId: 3, LeaderEpoch: 4 }, AbortedTransactions: null, PreferredReadReplica: -1, Records: recordBatch({ records: 5 }) }] }],
    });
    const resp = decodeResponse(frameOf(responseFrame(1, 13, 1, body)), 1, 13);
    expect(resp.failure).toBeNull();
    const p = (resp.body!.Responses as any)[0].Partitions[0];
    expect((resp.body!.Responses as any)[0].TopicId).toBe('11111111-2222-4333-8444-555555555555');
    expect(p.CurrentLeader).toEqual({ LeaderId: 3, LeaderEpoch: 4 });
    expect(p.HighWatermark).toBe(100n);
    expect(p.Records.records).toBe(5);
  });
});

describe('headers', () => {
  it('request header version follows the API flexible versions', () => {
    expect(requestHeaderVersion(0, 8)).toBe(1);
    expect(requestHeaderVersion(0, 9)).toBe(2);
    expect(requestHeaderVersion(1, 12)).toBe(2);
    expect(requestHeaderVersion(7, 0)).toBe(0);
    expect(requestHeaderVersion(68, 0)).toBe(2);
  });

  it('response header v1 for flexible versions, except ApiVersions (always v0)', () => {
    expect(responseHeaderVersion(3, 8)).toBe(0);
    expect(responseHeaderVersion(3, 9)).toBe(1);
    expect(responseHeaderVersion(18, 3)).toBe(0);
    expect(responseHeaderVersion(18, 0)).toBe(0);
  });

  it('null client id and header v0', () => {
    const r = Reader.of(requestFrame(3, 1, 5, null, new Uint8Array()).subarray(4));
    expect(readRequestHeader(r)).toEqual({ apiKey: 3, apiVersion: 1, correlationId: 5, clientId: null, headerVersion: 1 });
    const v0 = Reader.of(Uint8Array.from([0, 7, 0, 0, 0, 0, 0, 9]));
    expect(readRequestHeader(v0)).toEqual({ apiKey: 7, apiVersion: 0, correlationId: 9, clientId: null, headerVersion: 0 });
  });

  it('rejects what cannot be a request header', () => {
    const bad = Uint8Array.from([0, 0, 0, 10, 0x75, 0x73, 0, 1, 0, 0, 0, 1, 0, 0]);
    expect(decodeRequest(frameOf(bad))).toEqual({ rejected: 'bad_header' });
    const badVersion = Uint8Array.from([0, 0, 0, 10, 0, 1, 0x40, 0, 0, 0, 0, 1, 0, 0]);
    expect(decodeRequest(frameOf(badVersion))).toEqual({ rejected: 'bad_header' });
  });

  it('header-only APIs and SASL: header decoded, body never', () => {
    const sasl = requestFrame(36, 2, 3, 'c', Uint8Array.from([3, 0x61, 0x62, 0]));
    const req = decodeRequest(frameOf(sasl));
    if ('rejected' in req) throw new Error('rejected');
    expect(req.api).toBe('SaslAuthenticate');
    expect(req.body).toBeNull();
    const acl = requestFrame(29, 1, 4, 'c', Uint8Array.from([1, 2, 3]));
    const other = decodeRequest(frameOf(acl));
    if ('rejected' in other) throw new Error('rejected');
    expect(other.api).toBe('DescribeAcls');
    expect(other.body).toBeNull();
  });

  it('versions newer than the schemas: header only', () => {
    const req = decodeRequest(frameOf(requestFrame(3, 40, 1, 'x', new Uint8Array([1, 2]))));
    if ('rejected' in req) throw new Error('rejected');
    expect(req.header.apiVersion).toBe(40);
    expect(req.body).toBeNull();
  });
});

describe('truncated and corrupted frames', () => {
  it('decodes what was copied and flags truncation', () => {
    const spec = requestSpec(0)!;
    const { value } = sampleBody(spec, 9);
    const frame = requestFrame(0, 9, 1, 'c', value);
    for (const copied of [10, 20, 40, 60, 80]) {
      const req = decodeRequest(frameOf(frame, copied));
      if ('rejected' in req) {
        expect(copied).toBeLessThan(14);
        continue;
      }
      expect(req.failure).toBe('truncated');
      expect(req.header.correlationId).toBe(1);
    }
    const req = decodeRequest(frameOf(frame, 40));
    if ('rejected' in req) throw new Error('rejected');
    expect(req.body!.Acks).toBe(value.Acks);
  });

  it('continues after a gap when a length skips over it', () => {
    const body = encodeBody(responseSpec(1)!, 4, {
      Responses: [{ Topic: 't', Partitions: [
        { PartitionIndex: 0, HighWatermark: 10n, Records: recordBatch({ records: 2, payload: 500 }) },
        { PartitionIndex: 1, HighWatermark: 20n, Records: recordBatch({ records: 1 }) },
      ] }],
    });
    const frame = responseFrame(1, 4, 1, body);
    const payload = frame.subarray(4);
    // Copy the head up to past the first batch's header, skip its records, copy the second partition:
    // index 4, error 2, high watermark 8, last stable offset 8, aborted txns 4, records 4 + 71.
    const secondPartition = 4 + 2 + 8 + 8 + 4 + 4 + 71;
    const firstRecordsEnd = payload.length - secondPartition;
    const gapStart = 120;
    expect(gapStart).toBeLessThan(firstRecordsEnd - 400);
    const resp = decodeResponse({
      segments: [{ offset: 0, data: payload.subarray(0, gapStart) }, { offset: firstRecordsEnd, data: payload.subarray(firstRecordsEnd) }],
      size: payload.length, truncated: true,
    }, 1, 4);
    expect(resp.failure).toBeNull();
    const parts = (resp.body!.Responses as any)[0].Partitions;
    expect(parts[0].Records).toMatchObject({ records: 2, complete: true });
    expect(parts[1].HighWatermark).toBe(20n);
    expect(parts[1].Records.records).toBe(1);
  });

  it('reports a length past the frame as overrun and trailing bytes as trailing', () => {
    const body = new Writer().int16(1).int32(1000).int32(5).bytesOut();
    const bad = decodeRequest(frameOf(requestFrame(0, 2, 1, 'c', body)));
    if ('rejected' in bad) throw new Error('rejected');
    expect(bad.failure).toBe('overrun');
    const trailing = decodeRequest(frameOf(requestFrame(12, 0, 1, 'c', concat(encodeBody(requestSpec(12)!, 0, {}), new Uint8Array(3)))));
    if ('rejected' in trailing) throw new Error('rejected');
    expect(trailing.failure).toBe('trailing');
  });

  it('reports bad varints and negative lengths', () => {
    const varint = decodeRequest(frameOf(requestFrame(18, 3, 1, 'c', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1]))));
    if ('rejected' in varint) throw new Error('rejected');
    expect(varint.failure).toBe('bad_varint');
    const negative = decodeRequest(frameOf(requestFrame(11, 0, 1, 'c', Uint8Array.from([0xff, 0xf0, 0, 0]))));
    if ('rejected' in negative) throw new Error('rejected');
    expect(negative.failure).toBe('bad_length');
  });
});
