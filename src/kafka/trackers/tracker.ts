// What follows state across exchanges (consumer lag, group rebalances): the KafkaDecoder facade hands
// each reported exchange, in order, to the trackers its plan needs, from one place (its emit).
import type { KafkaExchange } from '../model.js';
import type { DecodedStruct } from '../wire/values.js';

export interface ExchangeTracker {
  /**
   * Learns from one exchange (with its decoded bodies, null when not decoded) and annotates it:
   * its items and details, `lag`, `derived`.
   */
  observe(ex: KafkaExchange, request: DecodedStruct | null, response: DecodedStruct | null): void;
}
