// Decoder health counters, exported for the runtime (e.g. to print at exit or serve to Prometheus).
import type { DecodeFailure } from '../wire/reader.js';

/** Why a frame was not used: decode failures, plus frames that fit no exchange. */
export type FrameFailure =
  | Exclude<DecodeFailure, 'truncated'>
  /** A response whose correlation id matches no request seen on the connection. */
  | 'orphan_response'
  /**
   * A response to a request the capture lost (the ring buffer was full): one that answers no request
   * seen, after the capture flagged a loss on its connection. Its request counts among the frames lost.
   */
  | 'request_lost'
  /**
   * An answer to an acks=0 Produce request, which a broker never sends (librdkafka's mock cluster
   * does); the request was reported already, without a response.
   */
  | 'acks0_response'
  /** A frame cut short inside its header (the capture lost the rest): it cannot be decoded. */
  | 'truncated_header'
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
  /** Frames the capture counted but could not hand over, both directions (none without a capture). */
  framesLost: FramesLost;
  /** Syscall remainders the capture skipped unread after an impossible size: their frames are unknown. */
  captureDesyncs: number;
  /** A broker's sendfile(2) calls of Fetch record data that could not be read back from their file (closed, replaced): those batches are unknown. */
  sendfileUnread: number;
}

/** Why the capture could not hand a frame over (KC_FR_* in bpf-templates/kafka-capture.h); each frame counts once. */
export interface FramesLost {
  /** The ring buffer was full. */
  ringFull: number;
  /** Cut short by a record the ring refused: passed uncopied until the next frame boundary. */
  afterLoss: number;
  /** More frames in one syscall than the capture walks (they pass uncopied, counted). */
  tooMany: number;
}

export function newCounters(): KafkaCounters {
  return { framesDecoded: 0, framesTruncated: 0, framesFailed: {}, bytesSkipped: 0, bytesDropped: 0, resyncs: 0, exchanges: 0, unanswered: 0, badRecords: 0, framesLost: { ringFull: 0, afterLoss: 0, tooMany: 0 }, captureDesyncs: 0, sendfileUnread: 0 };
}

export function countFailure(c: KafkaCounters, reason: FrameFailure): void {
  c.framesFailed[reason] = (c.framesFailed[reason] ?? 0) + 1;
}

/** Every FrameFailure, in the order reports list them (Prometheus keeps a series for each, 0 included). */
const FRAME_FAILURES: readonly FrameFailure[] = [
  'bad_header', 'overrun', 'bad_length', 'bad_varint', 'trailing', 'orphan_response', 'request_lost', 'truncated_header', 'acks0_response', 'unknown_version', 'sasl_token',
];

/** One decode-health figure: printed at exit (-v), in -f json's kafka_decode record, and in Prometheus. */
export interface HealthFigure {
  /** snake_case, as JSON and Prometheus name it. */
  name: string;
  help: string;
  value: number;
}

/** What the decoder's health report holds: its figures, and its failed frames by reason. */
export interface DecodeHealth {
  figures: HealthFigure[];
  failed: Record<FrameFailure, number>;
}

/** The decoder's counters as one report, so that the exit line, JSON and Prometheus say the same. */
export function decodeHealth(c: KafkaCounters): DecodeHealth {
  const failed = Object.fromEntries(FRAME_FAILURES.map((r) => [r, c.framesFailed[r] ?? 0])) as Record<FrameFailure, number>;
  return {
    figures: [
      { name: 'exchanges', help: 'Kafka exchanges decoded (a request and its response, or a request without one)', value: c.exchanges },
      { name: 'unanswered', help: 'Kafka exchanges reported without a response (acks=0, connection closed, timeout)', value: c.unanswered },
      { name: 'frames_decoded', help: 'Kafka frames decoded into requests or responses', value: c.framesDecoded },
      { name: 'frames_truncated', help: 'decoded Kafka frames of which part was not captured', value: c.framesTruncated },
      { name: 'resyncs', help: 'times a Kafka stream lost frame boundaries and found them again', value: c.resyncs },
      { name: 'bytes_skipped', help: 'Kafka bytes that passed without being copied (record data the capture skips included)', value: c.bytesSkipped },
      { name: 'bytes_dropped', help: 'copied Kafka bytes thrown away (out of sync, over the per-frame copy limit)', value: c.bytesDropped },
      { name: 'bad_records', help: 'capture records that did not decode', value: c.badRecords },
      { name: 'frames_lost_ring_full', help: 'Kafka frames lost because the capture ring buffer was full', value: c.framesLost.ringFull },
      { name: 'frames_lost_after_loss', help: 'Kafka frames passed uncopied after a ring-buffer loss, until the next frame boundary', value: c.framesLost.afterLoss },
      { name: 'frames_lost_too_many', help: 'Kafka frames passed uncopied because one syscall carried more than the capture walks', value: c.framesLost.tooMany },
      { name: 'capture_desyncs', help: 'syscall remainders the capture skipped unread after an impossible frame size (their frames are unknown)', value: c.captureDesyncs },
      { name: 'sendfile_unread', help: 'sendfile(2) calls of Fetch record data that could not be read back from their file (those batches are unknown)', value: c.sendfileUnread },
    ],
    failed,
  };
}
