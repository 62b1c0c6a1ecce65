// The types every layer of src/kafka shares (DESIGN.md: model -> wire -> probes -> lane -> exchange
// -> trackers -> the KafkaDecoder facade): what an exchange is, what a probe firing carries. Types
// only, so that any layer may import it and it imports nothing.

export type Direction = 'out' | 'in';

/** Who the traced process is on a connection, and which thread and addresses it used. */
export interface ConnectionInfo {
  pid: number;
  tid: number;
  comm: string;
  fd: number;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
}

export type FieldValue = string | number | bigint | boolean;
export type Fields = Record<string, FieldValue>;

export type ExchangeStatus = 'complete' | 'no_response' | 'closed' | 'timeout';

export interface KafkaExchange {
  api: string;
  api_key: number;
  version: number;
  correlation_id: number;
  /** '' when the client sent none. */
  client_id: string;
  /** 'client' when this process wrote the request, 'broker' when it read it. */
  role: 'client' | 'broker';
  status: ExchangeStatus;
  /** Response start minus request start, in ns; null without a response. */
  latency: bigint | null;
  /** The response's top-level error, else its first partition error, else 0; null without a response. */
  error: number | null;
  error_name: string | null;
  /** Frame sizes on the wire, size field included. */
  request_bytes: number;
  response_bytes: number | null;
  request_ts: bigint;
  response_ts: bigint | null;
  /** Whether part of the request or response was not copied (details may be incomplete). */
  truncated: boolean;
  /**
   * Whether a body lost fields: it stopped early (bytes not copied, or not decodable), or its version
   * is one no schema knows. Firings then say `incomplete` (Produce and Fetch items, per item).
   */
  incomplete: boolean;
  connection: ConnectionInfo;
  /** API-level fields (group, member, generation, acks, ...). */
  details: Fields;
  /** Per topic-partition (or per group, per topic) fields. */
  items: Fields[];
  /** `kafka:rebalance` and `kafka:member` events this exchange completed (see trackers/rebalances.ts). */
  derived?: DerivedEvent[];
  /** Lag views (per group, topic, partition) that this exchange changed: see trackers/lag.ts. */
  lag?: Fields[];
}

export type ProbeArgs = Record<string, bigint | string>;

export type DerivedProbe = 'rebalance' | 'member';

/** An event derived from several exchanges: a `kafka:rebalance` or `kafka:member` firing. */
export interface DerivedEvent {
  probe: DerivedProbe;
  /** The probe's own args (they override `common`). */
  fields: Fields;
  /** CLOCK_MONOTONIC ns the event completed at. */
  ts: bigint;
  /** The connection it was last seen on. */
  connection: ConnectionInfo;
  /** The common args of the exchange it was last seen on (its own group's, on that connection). */
  common: ProbeArgs;
}

/** One firing of a kafka probe. */
export interface ProbeFiring {
  /** Probe name after `kafka:` (lower-case API name, `request` or `rebalance`). */
  probe: string;
  args: ProbeArgs;
  /** A derived event's own connection and time (else the exchange's). */
  connection?: ConnectionInfo;
  nsecs?: bigint;
}
