// Click-count on Go Goka (github.com/lovoo/goka v1.1.16), run by bench/bench_peers.py.
//
// The same job as the other contenders: a processor group with
// goka.Input(topic, codec.String, cb) and goka.Persist(codec.Int64) counting messages per
// key (ctx.Value / ctx.SetValue, changelog record per message), stopping after
// -messages were processed. Prints one `RESULT {json}` line timed like
// bench/peers/clock.py: from the first message processed to the N-th, inside the
// callback, after the state update; start-up stays outside the window.
//
// -storage memory (storage.MemoryBuilder) or leveldb (Goka's default LevelDB storage in
// -state-dir); -storage none is no Goka at all: Sarama partition consumers of the input
// topic with the same clock (Go's raw-consume ceiling on this broker). The topic manager only checks that the topics exist with the right partition
// count (no CreateTopics / DescribeConfigs: librdkafka's mock cluster implements neither;
// the bench pre-creates the changelog topic).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
)

// clock mirrors bench/peers/clock.py; tick is called concurrently by Goka's partition goroutines.
type clock struct {
	target              int64
	count               atomic.Int64
	firstMono, lastMono time.Time
	firstCPU, lastCPU   float64
	done                chan struct{}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func (c *clock) tick() {
	switch n := c.count.Add(1); n {
	case 1:
		c.firstMono, c.firstCPU = time.Now(), cpuSeconds()
	case c.target:
		c.lastMono, c.lastCPU = time.Now(), cpuSeconds()
		close(c.done)
	}
}

func (c *clock) result(extra map[string]any) map[string]any {
	r := map[string]any{"processed": c.count.Load(), "rate": nil}
	select {
	case <-c.done:
	default:
		return r
	}
	window := c.lastMono.Sub(c.firstMono).Seconds()
	r["window_s"] = window
	r["rate"] = float64(c.target-1) / window
	r["cpu_cores"] = (c.lastCPU - c.firstCPU) / window
	r["first_wall"] = float64(c.firstMono.UnixNano()) / 1e9
	r["last_wall"] = float64(c.lastMono.UnixNano()) / 1e9
	for k, v := range extra {
		r[k] = v
	}
	return r
}

// checkOnlyTopicManager implements goka.TopicManager from cluster metadata alone.
type checkOnlyTopicManager struct{ client sarama.Client }

func (m *checkOnlyTopicManager) Partitions(topic string) ([]int32, error) {
	if err := m.client.RefreshMetadata(topic); err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	return m.client.Partitions(topic)
}

func (m *checkOnlyTopicManager) ensure(topic string, npar int) error {
	parts, err := m.Partitions(topic)
	if err != nil {
		return fmt.Errorf("topic %s must be pre-created: %w", topic, err)
	}
	if len(parts) != npar {
		return fmt.Errorf("topic %s has %d partitions, need %d", topic, len(parts), npar)
	}
	return nil
}

func (m *checkOnlyTopicManager) EnsureTableExists(topic string, npar int) error {
	return m.ensure(topic, npar)
}
func (m *checkOnlyTopicManager) EnsureStreamExists(topic string, npar int) error {
	return m.ensure(topic, npar)
}
func (m *checkOnlyTopicManager) EnsureTopicExists(topic string, npar, _ int, _ map[string]string) error {
	return m.ensure(topic, npar)
}
func (m *checkOnlyTopicManager) GetOffset(topic string, p int32, t int64) (int64, error) {
	return m.client.GetOffset(topic, p, t)
}
func (m *checkOnlyTopicManager) Close() error { return m.client.Close() }

func main() {
	brokers := flag.String("brokers", "", "bootstrap servers, comma-separated")
	topic := flag.String("topic", "user-clicks", "input topic")
	group := flag.String("group", "go-click-count", "processor group (changelog topic <group>-table)")
	messages := flag.Int64("messages", 400000, "stop after this many messages")
	store := flag.String("storage", "memory", "memory | leveldb")
	stateDir := flag.String("state-dir", "", "LevelDB directory (-storage leveldb)")
	version := flag.String("kafka-version", "2.0.0", "sarama.Config.Version (goka.DefaultConfig: 2.0.0)")
	timeout := flag.Duration("timeout", 300*time.Second, "give up after this long")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run here")
	flag.Parse()
	if *brokers == "" || *messages < 2 {
		log.Fatal("need -brokers and -messages >= 2")
	}
	addrs := strings.Split(*brokers, ",")

	kv, err := sarama.ParseKafkaVersion(*version)
	if err != nil {
		log.Fatal(err)
	}
	cfg := goka.DefaultConfig()
	cfg.Version = kv                                   // goka.DefaultConfig sets V2_0_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest // the input topic is pre-filled
	goka.ReplaceGlobalConfig(cfg)

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	c := &clock{target: *messages, done: make(chan struct{})}
	if *store == "none" {
		failed := rawConsume(addrs, cfg, *topic, c, *timeout)
		report(c, map[string]any{"storage": "none (sarama consume)", "kafka_version": kv.String()}, failed)
		return
	}

	var sb storage.Builder
	switch *store {
	case "memory":
		sb = storage.MemoryBuilder()
	case "leveldb":
		if *stateDir == "" {
			log.Fatal("-storage leveldb needs -state-dir")
		}
		sb = storage.DefaultBuilder(*stateDir)
	default:
		log.Fatalf("unknown -storage %q", *store)
	}

	count := func(ctx goka.Context, msg interface{}) {
		var n int64
		if v := ctx.Value(); v != nil {
			n = v.(int64)
		}
		ctx.SetValue(n + 1)
		c.tick()
	}
	g := goka.DefineGroup(goka.Group(*group),
		goka.Input(goka.Stream(*topic), new(codec.String), count),
		goka.Persist(new(codec.Int64)),
	)
	tmb := func(brokers []string) (goka.TopicManager, error) {
		tcfg := *cfg
		tcfg.ClientID = "goka-bench-topic-check"
		client, err := sarama.NewClient(brokers, &tcfg)
		if err != nil {
			return nil, err
		}
		return &checkOnlyTopicManager{client: client}, nil
	}
	started := time.Now()
	p, err := goka.NewProcessor(addrs, g,
		goka.WithStorageBuilder(sb),
		goka.WithTopicManagerBuilder(tmb),
	)
	if err != nil {
		log.Fatalf("NewProcessor: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	var failed error
	select {
	case <-c.done:
	case err := <-runErr:
		failed = fmt.Errorf("processor stopped early: %v", err)
		runErr <- err
	case <-time.After(*timeout):
		failed = errors.New("timed out")
	}
	cancel()
	stopped := make(chan struct{})
	go func() { <-runErr; close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "processor did not stop within 30 s")
	}
	report(c, map[string]any{
		"storage":       *store,
		"kafka_version": kv.String(),
		"startup_go_s":  c.firstMono.Sub(started).Seconds(),
	}, failed)
}

// report prints the RESULT line; a failure is printed to stderr after it.
func report(c *clock, extra map[string]any, failed error) {
	out, _ := json.Marshal(c.result(extra))
	fmt.Printf("RESULT %s\n", out)
	if failed != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, failed)
		os.Exit(1)
	}
}

// rawConsume reads every partition of topic from the oldest offset with Sarama's
// partition consumers (no group, no state), one clock tick per message.
func rawConsume(addrs []string, cfg *sarama.Config, topic string, c *clock, timeout time.Duration) error {
	consumer, err := sarama.NewConsumer(addrs, cfg)
	if err != nil {
		return err
	}
	defer consumer.Close()
	parts, err := consumer.Partitions(topic)
	if err != nil {
		return err
	}
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return err
		}
		defer pc.Close()
		go func() {
			for range pc.Messages() {
				c.tick()
			}
		}()
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(timeout):
		return errors.New("timed out")
	}
}
