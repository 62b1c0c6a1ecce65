// What a decoded body is made of (the schema decoder's output, read by every layer above the wire).
import type { RecordsSummary } from './records.js';

/** bytes fields decode to their length only: their content (metadata, SASL tokens) never reaches output. */
export interface BytesValue {
  kind: 'bytes';
  length: number;
}

export type DecodedValue =
  | number
  | bigint
  | boolean
  | string
  | null
  | BytesValue
  | RecordsSummary
  | DecodedStruct
  | DecodedValue[];

export interface DecodedStruct {
  [field: string]: DecodedValue;
}
