// One Kafka frame (the payload after its int32 size) to a decoded request or response. Never throws:
// failures are reported in the result, so the stream and the counters decide what to do with them.
import { API_KEYS, apiName } from './api-names.js';
import { decodeBody, decodeProjected, type BodyResult } from './decoder.js';
import { readRequestHeader, readResponseHeader, responseHeaderVersion, type RequestHeader } from './headers.js';
import { DecodeError, int32At, Reader, type DecodeFailure, type Segment } from './reader.js';
import { requestSpec, responseSpec } from './schemas/index.js';
import { inRange, type MessageSpec } from './schemas/spec.js';
import type { DecodedStruct } from './values.js';

export interface FrameInput {
  segments: readonly Segment[];
  /** Payload size from the frame's size field. */
  size: number;
  /** Whether some bytes of the frame were not copied. */
  truncated: boolean;
}

export interface DecodedRequest {
  header: RequestHeader;
  api: string;
  /** Null when the body is not decoded (header-only APIs, SASL, versions newer than the schemas). */
  body: DecodedStruct | null;
  /** Why body decoding stopped early ('truncated' is expected for truncated frames). */
  failure: DecodeFailure | null;
}

export interface DecodedResponse {
  correlationId: number;
  body: DecodedStruct | null;
  failure: DecodeFailure | null;
}

const UNSUPPORTED_VERSION = 35;

/** APIs whose bodies carry credentials: never decoded. */
const NEVER_DECODED = new Set<number>([API_KEYS.SaslHandshake, API_KEYS.SaslAuthenticate]);

/** How much of a body to decode: nothing (null), all of it, or only the fields named (at any depth). */
export type BodyFields = null | 'full' | ReadonlySet<string>;

/** What to decode of the bodies of each API, by api key; an API left out is not decoded. */
export type WantedBodies = ReadonlyMap<number, BodyFields>;

/** A body as `wanted` has it (whole without it); null when nothing of it is wanted. */
function planned(wanted: WantedBodies | undefined, spec: MessageSpec, version: number, r: Reader): BodyResult | null {
  if (!wanted) return decodeBody(spec, version, r);
  const body = wanted.get(spec.key) ?? null;
  if (body === null) return null;
  return body === 'full' ? decodeBody(spec, version, r) : decodeProjected(spec, version, body, r);
}

/**
 * Decodes a request; a frame that is not a Kafka request (or too little of it was copied) is
 * rejected. With `wanted`, the body is decoded only as far as it says.
 */
export function decodeRequest(frame: FrameInput, wanted?: WantedBodies): DecodedRequest | { rejected: DecodeFailure } {
  const r = new Reader(frame.segments, frame.size);
  let header: RequestHeader;
  try {
    header = readRequestHeader(r);
  } catch (e) {
    if (e instanceof DecodeError) return { rejected: e.reason === 'truncated' ? 'truncated' : 'bad_header' };
    throw e;
  }
  const api = apiName(header.apiKey)!;
  const spec = requestSpec(header.apiKey);
  if (!spec || NEVER_DECODED.has(header.apiKey) || !inRange(spec.valid, header.apiVersion)) {
    return { header, api, body: null, failure: null };
  }
  const decoded = planned(wanted, spec, header.apiVersion, r);
  if (!decoded) return { header, api, body: null, failure: null };
  return { header, api, body: decoded.body, failure: decoded.error?.reason ?? null };
}

/** The correlation id of a response frame, or null when not even that much was copied. */
export function peekCorrelationId(frame: FrameInput): number | null {
  // Usually the frame's first copied bytes hold it: read them without a Reader.
  const first = frame.segments[0];
  if (first && first.offset === 0 && first.data.length >= 4 && frame.size >= 4) {
    return int32At(first.data, 0);
  }
  try {
    return new Reader(frame.segments, frame.size).int32();
  } catch (e) {
    if (e instanceof DecodeError) return null;
    throw e;
  }
}

/** Decodes a response to a request of `apiKey` at `version` (as far as `wanted` says, with it). */
export function decodeResponse(frame: FrameInput, apiKey: number, version: number, wanted?: WantedBodies): DecodedResponse {
  const r = new Reader(frame.segments, frame.size);
  let correlationId: number;
  try {
    correlationId = readResponseHeader(r, responseHeaderVersion(apiKey, version));
  } catch (e) {
    if (e instanceof DecodeError) return { correlationId: peekCorrelationId(frame) ?? -1, body: null, failure: e.reason };
    throw e;
  }
  const spec = responseSpec(apiKey);
  if (!spec || NEVER_DECODED.has(apiKey) || !inRange(spec.valid, version)) {
    return { correlationId, body: null, failure: null };
  }
  const start = r.pos;
  const decoded = planned(wanted, spec, version, r);
  if (!decoded) return { correlationId, body: null, failure: null };
  const { body, error } = decoded;
  // A broker that does not support the requested ApiVersions version answers in version 0.
  if (apiKey === API_KEYS.ApiVersions && version > 0 && (error || body.ErrorCode === UNSUPPORTED_VERSION)) {
    const v0 = decodeBody(spec, 0, new Reader(frame.segments, frame.size, start));
    if (!v0.error || v0.error.reason === 'truncated') return { correlationId, body: v0.body, failure: v0.error?.reason ?? null };
  }
  return { correlationId, body, failure: error?.reason ?? null };
}
