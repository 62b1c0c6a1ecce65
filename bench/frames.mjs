// Synthetic Kafka frames for the decode benchmarks: big-endian, non-flexible versions, as on the wire.

export class Writer {
  parts = [];
  length = 0;
  push(b) {
    this.parts.push(b);
    this.length += b.length;
    return this;
  }
  int(size, v) {
    const b = Buffer.alloc(size);
    if (size === 1) b.writeInt8(v);
    else if (size === 2) b.writeInt16BE(v);
    else if (size === 4) b.writeInt32BE(v);
    else b.writeBigInt64BE(BigInt(v));
    return this.push(b);
  }
  string(s) {
    if (s === null) return this.int(2, -1);
    const b = Buffer.from(s, 'utf8');
    return this.int(2, b.length).push(b);
  }
  bytes(b) {
    if (b === null) return this.int(4, -1);
    return this.int(4, b.length).push(b);
  }
  array(items, each) {
    this.int(4, items.length);
    for (const item of items) each(this, item);
    return this;
  }
  out() {
    return Buffer.concat(this.parts, this.length);
  }
}

/** A magic 2 record batch of `records` records; `payload` filler bytes stand for them (only the header is read). */
export function recordBatch(baseOffset, records, payload) {
  return new Writer().int(8, baseOffset).int(4, 49 + payload).int(4, 0).int(1, 2).int(4, 0).int(2, 0)
    .int(4, records - 1).int(8, 1_700_000_000_000).int(8, 1_700_000_000_000).int(8, -1).int(2, -1).int(4, -1)
    .int(4, records).push(Buffer.alloc(payload, 0xab)).out();
}

export const frame = (body) => new Writer().int(4, body.length).push(body).out();
export const request = (apiKey, version, id, clientId, body) =>
  frame(new Writer().int(2, apiKey).int(2, version).int(4, id).string(clientId).push(body).out());
export const response = (id, body) => frame(new Writer().int(4, id).push(body).out());

/** Bytes the capture copies of a frame before it walks it rather than copy it whole (kt_head_bytes). */
export const CAPTURE_HEAD = 512;
const BATCH_HEADER = 61;

/**
 * The pieces of `frame` (size field included) that the capture hands over when it walks the frame,
 * as [data, skipped before it]: everything but each record batch's data past its 61-byte header.
 * `batches` are [start, length] in `frame`, in order. A frame that fits in the head is one piece.
 */
export function walkPieces(frame, batches) {
  if (frame.length <= CAPTURE_HEAD) return [[frame, 0]];
  const pieces = [];
  let at = 0;
  let skipped = 0;
  for (const [start, length] of batches) {
    if (length <= BATCH_HEADER) continue;
    pieces.push([frame.subarray(at, start + BATCH_HEADER), skipped]);
    at = start + length;
    skipped = length - BATCH_HEADER;
  }
  pieces.push([frame.subarray(at), skipped]);
  return pieces;
}
