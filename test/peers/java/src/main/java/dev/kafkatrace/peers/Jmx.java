package dev.kafkatrace.peers;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

/**
 * The broker's own counters, read over JMX: the truth a test compares kafkatrace with.
 *
 *   Jmx HOST:PORT...
 *
 * prints one JSON line per meter or timer, per broker:
 *   {"event":"metric","jmx":"127.0.0.1:PORT","type":"BrokerTopicMetrics","name":"MessagesInPerSec","topic":"t","count":N}
 *   {"event":"metric",...,"type":"RequestMetrics","name":"RequestsPerSec","request":"Produce","version":"11","count":N}
 *   {"event":"metric",...,"type":"RequestMetrics","name":"TotalTimeMs","request":"Produce","count":N,"mean":MS}
 * Count is an exact counter since the broker started (the rates beside it are samples, never read here).
 */
public final class Jmx {
  private Jmx() {}

  private static final String[] QUERIES = {
    "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=*",
    "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic=*",
    "kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,topic=*",
    "kafka.network:type=RequestMetrics,name=RequestsPerSec,request=*,version=*",
    "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=*",
  };

  public static void main(String[] args) throws Exception {
    if (args.length == 0) {
      System.err.println("usage: Jmx HOST:PORT... (see Jmx.java)");
      System.exit(2);
    }
    for (String endpoint : args) {
      JMXServiceURL url = new JMXServiceURL("service:jmx:rmi:///jndi/rmi://" + endpoint + "/jmxrmi");
      try (JMXConnector c = JMXConnectorFactory.connect(url)) {
        MBeanServerConnection s = c.getMBeanServerConnection();
        for (String q : QUERIES) {
          List<ObjectName> names = new ArrayList<>(s.queryNames(new ObjectName(q), null));
          names.sort(null);
          for (ObjectName n : names) {
            Map<String, Object> line = new TreeMap<>(n.getKeyPropertyList());
            line.put("count", s.getAttribute(n, "Count"));
            if ("TotalTimeMs".equals(n.getKeyProperty("name"))) line.put("mean", s.getAttribute(n, "Mean"));
            emit(endpoint, line);
          }
        }
      }
    }
  }

  private static void emit(String endpoint, Map<String, Object> fields) {
    StringBuilder b = new StringBuilder("{\"event\":\"metric\",\"jmx\":").append(Peer.quote(endpoint));
    for (var e : fields.entrySet()) {
      b.append(',').append(Peer.quote(e.getKey())).append(':');
      Object v = e.getValue();
      // A mean of no samples may read NaN, which JSON cannot carry: null is "not measured".
      if (v instanceof Double d && !Double.isFinite(d)) b.append("null");
      else if (v instanceof Number) b.append(v);
      else b.append(Peer.quote(unquoted(String.valueOf(v))));
    }
    System.out.println(b.append('}'));
  }

  /** A key property's value: ObjectName quotes those with special characters. */
  private static String unquoted(String s) {
    return s.startsWith("\"") ? ObjectName.unquote(s) : s;
  }
}
