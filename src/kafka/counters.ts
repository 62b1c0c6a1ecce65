// Decoder health counters, exported for the runtime (e.g. to print at exit or serve to Prometheus).
import type { DecodeFailure } from './reader.js';

/** Why a frame was not used: decode failures, plus frames that fit no exchange. */
export type FrameFailure =
  | Exclude<DecodeFailure, 'truncated'>
  /** A response whose correlation id matches no request seen on the connection. */
  | 'orphan_response'
  /** A raw SASL token (after SaslHandshake v0), deliberately not decoded. */
  | 'sasl_token'
  /** A request or response body of a version no bundled schema has (its header was used). */
  | 'unknown_version';

export interface KafkaCounters {
  /** Frames decoded into requests or responses (truncated ones included). */
  framesDecoded: number;
  /** Decoded frames of which part was not copied. */
  framesTruncated: number;
  framesFailed: Partial<Record<FrameFailure, number>>;
  /** Bytes that passed without being copied (reported by the capture as skipped). */
  bytesSkipped: number;
  /** Copied bytes thrown away (out of sync, over the per-frame copy limit). */
  bytesDropped: number;
  resyncs: number;
  exchanges: number;
  /** Exchanges reported without a response (acks=0, closed, timed out). */
  unanswered: number;
  /** Capture records that did not decode (never expected: a layout mismatch between capture and decoder). */
  badRecords: number;
}

export function newCounters(): KafkaCounters {
  return { framesDecoded: 0, framesTruncated: 0, framesFailed: {}, bytesSkipped: 0, bytesDropped: 0, resyncs: 0, exchanges: 0, unanswered: 0, badRecords: 0 };
}

export function countFailure(c: KafkaCounters, reason: FrameFailure): void {
  c.framesFailed[reason] = (c.framesFailed[reason] ?? 0) + 1;
}
