package dev.kafkatrace.peers;

import static dev.kafkatrace.peers.Peer.emit;

import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.admin.ShareMemberDescription;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The Java client's KIP-848 and KIP-932 (share) groups as test peers, and the Admin API's account of
 * them. kafka-clients 4.x only (3.x has neither share consumers nor these describes): scripts/install-kafka.sh
 * leaves this class out of the 3.x build. JSON lines as Peer's:
 *
 *   share BOOTSTRAP TOPIC GROUP COUNT SEED ID   a share consumer (explicit acknowledgement) until COUNT
 *       records were accepted or rejected: {"event":"record",...} per record received (a released one
 *       comes again), {"event":"ack",...,"type":"accept|release|reject"} per acknowledgement,
 *       {"event":"committed",...} per partition the broker confirmed acknowledgements of, then "shared"
 *   members BOOTSTRAP TOPIC GROUP MEMBERS ID    MEMBERS KIP-848 consumers (group.protocol=consumer) in
 *       one JVM, until the Admin API describes their group reconciled: {"event":"group"} and
 *       {"event":"member"} lines for every describe it made; then exits without leaving the group
 *   describe-groups BOOTSTRAP consumer|share GROUP...   the Admin API's describe of each group
 */
public final class Groups {
  private Groups() {}

  public static void main(String[] args) throws Exception {
    emit("client", "version", Peer.clientVersion());
    switch (args.length > 0 ? args[0] : "") {
      case "share" -> share(args[1], args[2], args[3], Integer.parseInt(args[4]), Long.parseLong(args[5]), args[6]);
      case "members" -> members(args[1], args[2], args[3], Integer.parseInt(args[4]), args[5]);
      case "describe-groups" -> {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", args[1]))) {
          List<String> groups = List.of(args).subList(3, args.length);
          if (args[2].equals("share")) describeShare(admin, groups);
          else for (String g : groups) describeConsumer(admin, g);
        }
      }
      default -> {
        System.err.println("usage: share|members|describe-groups ... (see Groups.java)");
        System.exit(2);
      }
    }
  }

  /**
   * A share consumer acknowledging each record on its first delivery at random (seeded): accept 80%,
   * release 10% (delivered again, then accepted), reject 10%. Acknowledgements go with the next poll's
   * ShareFetch, or with commitSync's ShareAcknowledge (after about half the polls).
   */
  private static void share(String bootstrap, String topic, String group, int count, long seed, String clientId) throws Exception {
    // A share group starts at the log end unless told otherwise: this one reads what was produced before it.
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      var earliest = new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET);
      admin.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.GROUP, group), List.of(earliest))).all().get();
    }
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("client.id", clientId);
    p.put("group.id", group);
    p.put("share.acknowledgement.mode", "explicit");
    p.put("max.poll.records", "100");
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());
    Random rnd = new Random(seed);
    Set<String> finished = new HashSet<>();
    int received = 0;
    int[] types = new int[3];
    try (KafkaShareConsumer<byte[], byte[]> consumer = new KafkaShareConsumer<>(p)) {
      consumer.setAcknowledgementCommitCallback((offsets, err) -> {
        for (var e : offsets.entrySet()) {
          emit("committed", "topic", e.getKey().topic(), "partition", e.getKey().partition(), "records", e.getValue().size(), "error", err == null ? "" : err.toString());
        }
      });
      consumer.subscribe(List.of(topic));
      while (finished.size() < count) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          received++;
          int delivery = r.deliveryCount().map(Short::intValue).orElse(-1);
          emit("record", "topic", r.topic(), "partition", r.partition(), "offset", r.offset(), "delivery", delivery, "bytes", r.value().length);
          AcknowledgeType type = AcknowledgeType.ACCEPT;
          if (delivery == 1) {
            int roll = rnd.nextInt(10);
            if (roll == 0) type = AcknowledgeType.RELEASE;
            else if (roll == 1) type = AcknowledgeType.REJECT;
          }
          consumer.acknowledge(r, type);
          types[type == AcknowledgeType.ACCEPT ? 0 : type == AcknowledgeType.RELEASE ? 1 : 2]++;
          emit("ack", "topic", r.topic(), "partition", r.partition(), "offset", r.offset(), "type", type.toString().toLowerCase());
          if (type != AcknowledgeType.RELEASE) finished.add(r.partition() + "/" + r.offset());
        }
        if (rnd.nextBoolean()) commit(consumer);
      }
      commit(consumer);
    }
    emit("shared", "received", received, "accepted", types[0], "released", types[1], "rejected", types[2]);
  }

  private static void commit(KafkaShareConsumer<byte[], byte[]> consumer) {
    for (Map.Entry<TopicIdPartition, Optional<KafkaException>> e : consumer.commitSync().entrySet()) {
      e.getValue().ifPresent(err -> emit("commit_error", "topic", e.getKey().topic(), "partition", e.getKey().partition(), "error", err.toString()));
    }
  }

  /**
   * MEMBERS KIP-848 consumers of TOPIC in GROUP, polling on threads of their own, until the Admin API
   * describes the group Stable with every member at the target assignment epoch and its target
   * assignment; then the process halts, so that no member leaves and the group stays as described.
   */
  private static void members(String bootstrap, String topic, String group, int count, String clientId) throws Exception {
    for (int i = 0; i < count; i++) {
      Properties p = new Properties();
      p.put("bootstrap.servers", bootstrap);
      p.put("client.id", clientId + "-" + i);
      p.put("group.id", group);
      p.put("group.protocol", "consumer");
      p.put("auto.offset.reset", "earliest");
      p.put("key.deserializer", ByteArrayDeserializer.class.getName());
      p.put("value.deserializer", ByteArrayDeserializer.class.getName());
      // Polls until the process halts: never closed, so the member never leaves.
      Thread t = new Thread(() -> {
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p);
        consumer.subscribe(List.of(topic));
        while (true) consumer.poll(Duration.ofMillis(100));
      });
      t.setDaemon(true);
      t.start();
    }
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      long until = System.currentTimeMillis() + 60_000;
      while (!reconciled(describeConsumerOnceFound(admin, group), count)) {
        if (System.currentTimeMillis() > until) {
          System.err.println("members: the group did not reconcile within 60 s");
          Runtime.getRuntime().halt(1);
        }
        Thread.sleep(500);
      }
    }
    System.out.flush();
    Runtime.getRuntime().halt(0);
  }

  private static boolean reconciled(ConsumerGroupDescription d, int count) {
    if (d == null || d.groupState() != GroupState.STABLE || d.members().size() != count) return false;
    int epoch = d.targetAssignmentEpoch().orElse(-1);
    for (MemberDescription m : d.members()) {
      if (m.memberEpoch().orElse(-2) != epoch) return false;
      if (m.targetAssignment().isEmpty() || !m.targetAssignment().get().topicPartitions().equals(m.assignment().topicPartitions())) return false;
    }
    return true;
  }

  /** describeConsumer, or null while the group does not exist yet (no member has joined). */
  private static ConsumerGroupDescription describeConsumerOnceFound(Admin admin, String group) throws Exception {
    try {
      return describeConsumer(admin, group);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof GroupIdNotFoundException) return null;
      throw e;
    }
  }

  /** One consumer group as the Admin API describes it (ConsumerGroupDescribe for KIP-848 groups). */
  private static ConsumerGroupDescription describeConsumer(Admin admin, String group) throws Exception {
    ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
    emit("group", "group", d.groupId(), "type", d.type().toString(), "state", d.groupState().toString(),
        "epoch", d.groupEpoch().orElse(-1), "assignment_epoch", d.targetAssignmentEpoch().orElse(-1), "members", d.members().size());
    for (MemberDescription m : d.members()) {
      emit("member", "group", d.groupId(), "member", m.consumerId(), "client_id", m.clientId(),
          "member_epoch", m.memberEpoch().orElse(-1), "partitions", m.assignment().topicPartitions().size());
    }
    return d;
  }

  private static void describeShare(Admin admin, Collection<String> groups) throws Exception {
    for (ShareGroupDescription d : admin.describeShareGroups(groups).all().get().values()) {
      emit("group", "group", d.groupId(), "type", "share", "state", d.groupState().toString(),
          "epoch", d.groupEpoch(), "assignment_epoch", d.targetAssignmentEpoch(), "members", d.members().size());
      for (ShareMemberDescription m : d.members()) {
        emit("member", "group", d.groupId(), "member", m.consumerId(), "client_id", m.clientId(),
            "member_epoch", m.memberEpoch(), "partitions", m.assignment().topicPartitions().size());
      }
    }
  }
}
