// franz-go and sarama as test peers (test/helpers/real-kafka.ts runs them; scripts/install-kafka.sh
// builds them into build/peers/go):
//
//	peer produce BOOTSTRAP TOPIC PARTITIONS COUNT SEED ID [KAFKA]   franz-go
//	peer sarama-produce BOOTSTRAP TOPIC PARTITIONS COUNT SEED ID    sarama
//	peer sarama-consume BOOTSTRAP TOPIC GROUP COUNT ID              sarama, a classic consumer group
//
// KAFKA (e.g. 3.9.0) caps franz-go's request versions at that Kafka release's, where the newest ones
// would not do.
//
// Like the Java peer (test/peers/java), it prints its own account as JSON lines: {"event":"client",...}
// first, a "delivery" line per record produced (topic, partition, offset, bytes, or error), then
// {"event":"produced","acked":...,"failed":...}; or a "record" line per record consumed, then
// {"event":"consumed","records":...}. COUNT records of seeded random sizes (1..1000 bytes) go to
// seeded random partitions; both producers are idempotent.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
)

var out = json.NewEncoder(os.Stdout)
var outMu sync.Mutex

func emit(fields map[string]any) {
	outMu.Lock()
	defer outMu.Unlock()
	if err := out.Encode(fields); err != nil {
		os.Exit(1)
	}
}

// moduleVersion is the version of the module at path this binary was built with (franz-go and sarama
// announce the same in their ApiVersions requests).
func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "unknown"
}

// produceNumbers reads a produce command's PARTITIONS, COUNT and SEED (arguments 4 to 6), or exits 2.
func produceNumbers() (int, int, int64) {
	partitions, err1 := strconv.Atoi(os.Args[4])
	count, err2 := strconv.Atoi(os.Args[5])
	seed, err3 := strconv.ParseInt(os.Args[6], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		fmt.Fprintln(os.Stderr, "peer: PARTITIONS, COUNT and SEED are integers")
		os.Exit(2)
	}
	return partitions, count, seed
}

func main() {
	if len(os.Args) == 8 && os.Args[1] == "sarama-produce" {
		partitions, count, seed := produceNumbers()
		saramaProduce(os.Args[2], os.Args[3], partitions, count, seed, os.Args[7])
		return
	}
	if len(os.Args) == 7 && os.Args[1] == "sarama-consume" {
		count, err := strconv.Atoi(os.Args[5])
		if err != nil {
			fmt.Fprintln(os.Stderr, "peer: COUNT is an integer")
			os.Exit(2)
		}
		saramaConsume(os.Args[2], os.Args[3], os.Args[4], count, os.Args[6])
		return
	}
	if len(os.Args) < 8 || len(os.Args) > 9 || os.Args[1] != "produce" {
		fmt.Fprintln(os.Stderr, "usage: peer produce|sarama-produce|sarama-consume ... (see main.go)")
		os.Exit(2)
	}
	bootstrap, topic, id := os.Args[2], os.Args[3], os.Args[7]
	partitions, count, seed := produceNumbers()
	opts := []kgo.Opt{
		// BOOTSTRAP is a list, "host:port,host:port", as Kafka's own clients take it.
		kgo.SeedBrokers(strings.Split(bootstrap, ",")...),
		kgo.ClientID(id),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	if len(os.Args) == 9 {
		max := kversion.FromString(os.Args[8])
		if max == nil {
			fmt.Fprintln(os.Stderr, "peer: unknown Kafka version", os.Args[8])
			os.Exit(2)
		}
		opts = append(opts, kgo.MaxVersions(max))
	}
	emit(map[string]any{"event": "client", "name": "franz-go", "version": moduleVersion("github.com/twmb/franz-go")})
	client, err := kgo.NewClient(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	defer client.Close()
	rnd := rand.New(rand.NewSource(seed))
	var mu sync.Mutex
	acked, failed := 0, 0
	for i := 0; i < count; i++ {
		value := make([]byte, 1+rnd.Intn(1000))
		rnd.Read(value)
		r := &kgo.Record{Topic: topic, Partition: int32(rnd.Intn(partitions)), Key: []byte("k" + strconv.Itoa(i)), Value: value}
		client.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				emit(map[string]any{"event": "delivery", "topic": r.Topic, "partition": r.Partition, "error": err.Error()})
				return
			}
			acked++
			emit(map[string]any{"event": "delivery", "topic": r.Topic, "partition": r.Partition, "offset": r.Offset, "bytes": len(r.Value)})
		})
	}
	if err := client.Flush(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	emit(map[string]any{"event": "produced", "acked": acked, "failed": failed})
}
