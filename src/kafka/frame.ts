// One Kafka frame (the payload after its int32 size) to a decoded request or response. Never throws:
// failures are reported in the result, so the stream and the counters decide what to do with them.
import { API_KEYS, apiName } from './api-names.js';
import { decodeBody, type DecodedStruct } from './decoder.js';
import { readRequestHeader, readResponseHeader, responseHeaderVersion, type RequestHeader } from './headers.js';
import { DecodeError, Reader, type DecodeFailure, type Segment } from './reader.js';
import { requestSpec, responseSpec } from './schemas/index.js';
import { inRange } from './schemas/spec.js';

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

/** Decodes a request; a frame that is not a Kafka request (or too little of it was copied) is rejected. */
export function decodeRequest(frame: FrameInput): DecodedRequest | { rejected: DecodeFailure } {
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
  const { body, error } = decodeBody(spec, header.apiVersion, r);
  return { header, api, body, failure: error?.reason ?? null };
}

/** The correlation id of a response frame, or null when not even that much was copied. */
export function peekCorrelationId(frame: FrameInput): number | null {
  try {
    return new Reader(frame.segments, frame.size).int32();
  } catch (e) {
    if (e instanceof DecodeError) return null;
    throw e;
  }
}

/** Decodes a response to a request of `apiKey` at `version`. */
export function decodeResponse(frame: FrameInput, apiKey: number, version: number): DecodedResponse {
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
  const { body, error } = decodeBody(spec, version, r);
  // A broker that does not support the requested ApiVersions version answers in version 0.
  if (apiKey === API_KEYS.ApiVersions && version > 0 && (error || body.ErrorCode === UNSUPPORTED_VERSION)) {
    const v0 = decodeBody(spec, 0, new Reader(frame.segments, frame.size, start));
    if (!v0.error || v0.error.reason === 'truncated') return { correlationId, body: v0.body, failure: v0.error?.reason ?? null };
  }
  return { correlationId, body, failure: error?.reason ?? null };
}
