package dev.kafkatrace.peers;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The Java client as a test peer. Each command prints its own account as JSON lines on stdout, one
 * object a line with an "event" field, so that a test compares kafkatrace with what the client saw:
 *
 *   create BOOTSTRAP TOPIC PARTITIONS REPLICAS        {"event":"created",...}
 *   produce BOOTSTRAP TOPIC PARTITIONS COUNT SEED ID  {"event":"delivery",...} per record, then "produced"
 *   consume BOOTSTRAP TOPIC GROUP COUNT ID PROTOCOL   {"event":"record",...} per record, then "consumed"
 *   offsets BOOTSTRAP TOPIC                           {"event":"offset",...} per partition (log end offsets)
 *
 * Every run starts with {"event":"client","version":...}: the kafka-clients version in use.
 */
public final class Peer {
  private Peer() {}

  public static void main(String[] args) throws Exception {
    emit("client", "version", clientVersion());
    switch (args.length > 0 ? args[0] : "") {
      case "create" -> create(args[1], args[2], Integer.parseInt(args[3]), Short.parseShort(args[4]));
      case "produce" -> produce(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]), Long.parseLong(args[5]), args[6]);
      case "consume" -> consume(args[1], args[2], args[3], Integer.parseInt(args[4]), args[5], args[6]);
      case "offsets" -> offsets(args[1], args[2]);
      default -> {
        System.err.println("usage: create|produce|consume|offsets ... (see Peer.java)");
        System.exit(2);
      }
    }
  }

  private static void create(String bootstrap, String topic, int partitions, short replicas) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      admin.createTopics(List.of(new NewTopic(topic, partitions, replicas))).all().get();
      // Created once every partition has a leader and all its replicas in sync, so that the first
      // Produce is not refused; a broker that has not yet seen the topic says it does not exist.
      while (true) {
        try {
          TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
          if (d.partitions().size() == partitions && d.partitions().stream().allMatch(p -> p.leader() != null && p.isr().size() == replicas)) break;
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) throw e;
        }
        Thread.sleep(50);
      }
      emit("created", "topic", topic, "partitions", partitions, "replicas", (int) replicas);
    }
  }

  /** COUNT records of seeded random sizes (1..1000 bytes) to seeded random partitions, idempotent, acks=all. */
  private static void produce(String bootstrap, String topic, int partitions, int count, long seed, String clientId) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("client.id", clientId);
    p.put("enable.idempotence", "true");
    p.put("acks", "all");
    p.put("linger.ms", "5");
    p.put("key.serializer", ByteArraySerializer.class.getName());
    p.put("value.serializer", ByteArraySerializer.class.getName());
    Random rnd = new Random(seed);
    AtomicInteger acked = new AtomicInteger();
    AtomicInteger failed = new AtomicInteger();
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
      for (int i = 0; i < count; i++) {
        int partition = rnd.nextInt(partitions);
        byte[] value = new byte[1 + rnd.nextInt(1000)];
        rnd.nextBytes(value);
        byte[] key = ("k" + i).getBytes();
        producer.send(new ProducerRecord<>(topic, partition, key, value), (md, err) -> {
          if (err != null) {
            failed.incrementAndGet();
            emit("delivery", "topic", topic, "partition", partition, "error", err.toString());
          } else {
            acked.incrementAndGet();
            emit("delivery", "topic", md.topic(), "partition", md.partition(), "offset", md.offset(), "bytes", value.length);
          }
        });
      }
      producer.flush();
    }
    emit("produced", "acked", acked.get(), "failed", failed.get());
  }

  /** A group member (PROTOCOL classic or consumer, KIP-848) reading from the earliest offset until COUNT records arrived. */
  private static void consume(String bootstrap, String topic, String group, int count, String clientId, String protocol) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("client.id", clientId);
    p.put("group.id", group);
    p.put("group.protocol", protocol);
    p.put("auto.offset.reset", "earliest");
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());
    int seen = 0;
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(List.of(topic));
      while (seen < count) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          seen++;
          emit("record", "topic", r.topic(), "partition", r.partition(), "offset", r.offset(), "bytes", r.value().length);
        }
      }
      consumer.commitSync();
    }
    emit("consumed", "records", seen);
  }

  private static void offsets(String bootstrap, String topic) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
      Map<TopicPartition, OffsetSpec> ask = new HashMap<>();
      for (var part : d.partitions()) ask.put(new TopicPartition(topic, part.partition()), OffsetSpec.latest());
      var answers = admin.listOffsets(ask).all().get();
      List<TopicPartition> tps = new ArrayList<>(answers.keySet());
      tps.sort((a, b) -> Integer.compare(a.partition(), b.partition()));
      for (TopicPartition tp : tps) emit("offset", "topic", tp.topic(), "partition", tp.partition(), "end", answers.get(tp).offset());
    }
  }

  /** The version kafka-clients records in its own jar (its AppInfoParser is internal). */
  static String clientVersion() throws Exception {
    Properties v = new Properties();
    try (var in = KafkaProducer.class.getResourceAsStream("/kafka/kafka-version.properties")) {
      if (in != null) v.load(in);
    }
    return v.getProperty("version", "unknown");
  }

  /** One JSON line: the event, then name/value pairs (strings, or numbers). */
  static synchronized void emit(String event, Object... kv) {
    StringBuilder b = new StringBuilder("{\"event\":").append(quote(event));
    for (int i = 0; i < kv.length; i += 2) {
      b.append(',').append(quote((String) kv[i])).append(':');
      b.append(kv[i + 1] instanceof Number ? kv[i + 1].toString() : quote(String.valueOf(kv[i + 1])));
    }
    System.out.println(b.append('}'));
    System.out.flush();
  }

  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }
}
