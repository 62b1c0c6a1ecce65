package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/IBM/sarama"
)

func saramaConfig(id string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = id
	// The newest protocol versions sarama knows; its default (2.8) would send ApiVersions v3 too,
	// but older Produce and Fetch.
	c.Version = sarama.V4_0_0_0
	return c
}

// saramaProduce sends COUNT records of seeded random sizes (1..1000 bytes) to seeded random
// partitions with sarama's idempotent async producer, reporting each delivery.
func saramaProduce(bootstrap, topic string, partitions, count int, seed int64, id string) {
	c := saramaConfig(id)
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Net.MaxOpenRequests = 1
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	emit(map[string]any{"event": "client", "name": "sarama", "version": moduleVersion("github.com/IBM/sarama")})
	p, err := sarama.NewAsyncProducer(strings.Split(bootstrap, ","), c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	acked, failed := 0, 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for acked+failed < count {
			select {
			case m := <-p.Successes():
				acked++
				emit(map[string]any{"event": "delivery", "topic": m.Topic, "partition": m.Partition, "offset": m.Offset, "bytes": m.Value.Length()})
			case e := <-p.Errors():
				failed++
				emit(map[string]any{"event": "delivery", "topic": e.Msg.Topic, "partition": e.Msg.Partition, "error": e.Err.Error()})
			}
		}
	}()
	rnd := rand.New(rand.NewSource(seed))
	for i := 0; i < count; i++ {
		value := make([]byte, 1+rnd.Intn(1000))
		rnd.Read(value)
		p.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: int32(rnd.Intn(partitions)), Key: sarama.StringEncoder("k" + strconv.Itoa(i)), Value: sarama.ByteEncoder(value)}
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	emit(map[string]any{"event": "produced", "acked": acked, "failed": failed})
}

// groupReader reads a consumer group's claims until it has seen `count` records, then cancels.
type groupReader struct {
	mu     sync.Mutex
	seen   int
	count  int
	cancel context.CancelFunc
}

func (g *groupReader) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (g *groupReader) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (g *groupReader) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		// Claims are consumed concurrently: only the first COUNT records count as read.
		g.mu.Lock()
		if g.seen >= g.count {
			g.mu.Unlock()
			return nil
		}
		g.seen++
		done := g.seen == g.count
		emit(map[string]any{"event": "record", "topic": m.Topic, "partition": m.Partition, "offset": m.Offset, "bytes": len(m.Value)})
		s.MarkMessage(m, "")
		g.mu.Unlock()
		if done {
			s.Commit()
			g.cancel()
			return nil
		}
	}
	return nil
}

// saramaConsume joins GROUP (sarama's classic consumer group) and reads TOPIC from the earliest
// offset until COUNT records arrived, committing what it read.
func saramaConsume(bootstrap, topic, group string, count int, id string) {
	c := saramaConfig(id)
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Return.Errors = false
	emit(map[string]any{"event": "client", "name": "sarama", "version": moduleVersion("github.com/IBM/sarama")})
	cg, err := sarama.NewConsumerGroup(strings.Split(bootstrap, ","), group, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reader := &groupReader{count: count, cancel: cancel}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, reader); err != nil {
			fmt.Fprintln(os.Stderr, "peer:", err)
			os.Exit(1)
		}
	}
	if err := cg.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	emit(map[string]any{"event": "consumed", "records": reader.seen})
}
