package dev.kafkatrace.peers;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A consumer group member that stays for a while, as a test peer: it joins, reads, commits what it
 * read after every poll and on every revocation, and leaves, so that a group grows and shrinks as
 * members come and go. It stays MILLIS ms from its first assignment. With PAUSE_RECORDS it pauses
 * every partition it holds once it has read that many records (committed first) and keeps polling
 * (alive in its group, fetching nothing): its group's lag builds.
 *
 *   Member BOOTSTRAP TOPIC[,TOPIC...] GROUP ID PROTOCOL MILLIS [PAUSE_RECORDS]
 *
 * PROTOCOL is classic or consumer (KIP-848). Its own account, as JSON lines (see Peer.java):
 *   {"event":"assigned","group":G,"member":M,"generation":N,"partitions":"t-0,t-1"}  each rebalance
 *     callback with its generation (classic) or member epoch (consumer), as the client reports it
 *   {"event":"revoked",...}                                          likewise
 *   {"event":"records","topic":T,"partition":P,"count":N,"bytes":B}  per poll and partition
 *   {"event":"paused","partitions":"t-0,..."}
 *   {"event":"left","records":N}
 */
public final class Member {
  private Member() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 6 || args.length > 7) {
      System.err.println("usage: Member BOOTSTRAP TOPICS GROUP ID PROTOCOL MILLIS [PAUSE_RECORDS] (see Member.java)");
      System.exit(2);
    }
    String group = args[2];
    long millis = Long.parseLong(args[5]);
    long pauseRecords = args.length == 7 ? Long.parseLong(args[6]) : -1;
    Properties p = new Properties();
    p.put("bootstrap.servers", args[0]);
    p.put("client.id", args[3]);
    p.put("group.id", group);
    p.put("group.protocol", args[4]);
    p.put("auto.offset.reset", "earliest");
    p.put("enable.auto.commit", "false");
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());
    long seen = 0;
    boolean[] paused = {false};
    // When it was first given partitions: its stay is counted from there, however long joining took.
    long[] start = {0};
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(Arrays.asList(args[1].split(",")), new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
          if (!parts.isEmpty()) consumer.commitSync();
          report(consumer, "revoked", group, parts);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
          if (paused[0]) consumer.pause(parts);
          if (start[0] == 0 && !parts.isEmpty()) start[0] = System.currentTimeMillis();
          report(consumer, "assigned", group, parts);
        }
      });
      while (start[0] == 0 || System.currentTimeMillis() - start[0] < millis) {
        if (pauseRecords >= 0 && !paused[0] && seen >= pauseRecords) {
          consumer.commitSync();
          consumer.pause(consumer.assignment());
          paused[0] = true;
          Peer.emit("paused", "group", group, "partitions", names(consumer.assignment()));
        }
        Map<TopicPartition, long[]> got = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          long[] t = got.computeIfAbsent(new TopicPartition(r.topic(), r.partition()), k -> new long[2]);
          t[0]++;
          t[1] += r.serializedKeySize() + Math.max(0, r.serializedValueSize());
        }
        for (var e : got.entrySet()) {
          seen += e.getValue()[0];
          Peer.emit("records", "topic", e.getKey().topic(), "partition", e.getKey().partition(), "count", e.getValue()[0], "bytes", e.getValue()[1]);
        }
        if (!got.isEmpty()) consumer.commitSync();
      }
    }
    Peer.emit("left", "group", group, "records", seen);
  }

  private static void report(KafkaConsumer<?, ?> consumer, String event, String group, Collection<TopicPartition> parts) {
    var md = consumer.groupMetadata();
    Peer.emit(event, "group", group, "member", md.memberId(), "generation", md.generationId(), "partitions", names(parts));
  }

  private static String names(Collection<TopicPartition> parts) {
    List<String> out = new ArrayList<>();
    for (TopicPartition tp : parts) out.add(tp.topic() + "-" + tp.partition());
    out.sort(null);
    return String.join(",", out);
  }
}
