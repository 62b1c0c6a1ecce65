// Request header v0–v2 and response header v0–v1. The header version follows from the API's flexible
// versions: flexible requests use header v2 and their responses header v1, except ApiVersions
// responses, which always use header v0 so that a client can read them whatever it asked for.
import { API_KEYS, apiName } from './api-names.js';
import { DecodeError, type Reader } from './reader.js';
import { requestSpec } from './schemas/index.js';
import { inRange } from './schemas/spec.js';

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  /** Null when the client sent a null client id (or header v0, which has none). */
  clientId: string | null;
  headerVersion: 0 | 1 | 2;
}

/** Versions above this are not plausible for any API: such a frame is not a Kafka request. */
export const MAX_PLAUSIBLE_VERSION = 63;

/** Whether the API's requests use flexible encoding at `version`; unknown for header-only APIs. */
export function isFlexible(apiKey: number, version: number): boolean {
  return inRange(requestSpec(apiKey)?.flexible, version);
}

export function requestHeaderVersion(apiKey: number, version: number): 0 | 1 | 2 {
  if (apiKey === API_KEYS.ControlledShutdown && version === 0) return 0;
  return isFlexible(apiKey, version) ? 2 : 1;
}

export function responseHeaderVersion(apiKey: number, version: number): 0 | 1 {
  if (apiKey === API_KEYS.ApiVersions) return 0;
  return isFlexible(apiKey, version) ? 1 : 0;
}

/** Reads a request header, rejecting what cannot be one with DecodeError('bad_header'). */
export function readRequestHeader(r: Reader): RequestHeader {
  const apiKey = r.int16();
  const apiVersion = r.int16();
  if (apiName(apiKey) === undefined || apiVersion < 0 || apiVersion > MAX_PLAUSIBLE_VERSION) {
    throw new DecodeError('bad_header', `not a Kafka request header (api key ${apiKey}, version ${apiVersion})`);
  }
  const correlationId = r.int32();
  const headerVersion = requestHeaderVersion(apiKey, apiVersion);
  let clientId: string | null = null;
  if (headerVersion >= 1) {
    // client_id stays a classic nullable string even in flexible header v2.
    const n = r.int16();
    if (n < -1 || n > r.declaredRemaining) {
      throw new DecodeError('bad_header', `implausible client id length ${n}`);
    }
    if (n >= 0) clientId = r.string(n);
  }
  if (headerVersion === 2) skipTaggedFields(r);
  return { apiKey, apiVersion, correlationId, clientId, headerVersion };
}

/** Reads a response header; returns the correlation id. */
export function readResponseHeader(r: Reader, headerVersion: 0 | 1): number {
  const correlationId = r.int32();
  if (headerVersion === 1) skipTaggedFields(r);
  return correlationId;
}

/** Header tagged fields carry nothing kafkatrace reports. */
function skipTaggedFields(r: Reader): void {
  const count = r.uvarint();
  for (let i = 0; i < count; i++) {
    r.uvarint();
    r.skip(r.uvarint());
  }
}
