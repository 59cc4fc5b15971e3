package queue

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pishm/pishm/engine/partial"
	"github.com/pishm/pishm/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestClusterSlots runs jobs on a one-node Redis Cluster through a
// redis.ClusterClient, which refuses
// (CROSSSLOT) any script or multi-key command whose keys are in more than
// one slot: every key of a job shares the job's hash tag, so the whole
// protocol works there, as it would on a managed or sharded Redis.
func TestClusterSlots(t *testing.T) {
	s := redistest.Server(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	client, err := NewClient(ClientOptions{URL: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := client.Do(ctx, "cluster", "addslotsrange", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	for {
		info, err := client.ClusterInfo(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "cluster_state:ok") {
			break
		}
		time.Sleep(10 * time.Millisecond) // polls a condition
	}
	// The server computes the slots: one for all of a job's keys.
	k := keysOf("some-job")
	slot := client.ClusterKeySlot(ctx, k.job()).Val()
	for _, key := range k.all() {
		if got := client.ClusterKeySlot(ctx, key).Val(); got != slot {
			t.Errorf("%s is in slot %d, %s in %d", key, got, k.job(), slot)
		}
	}
	// A cross-slot script fails here: the check is real.
	if err := client.Eval(ctx, "return redis.call('GET', KEYS[1])", []string{"a", "b"}).Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("a cross-slot script: %v, want CROSSSLOT", err)
	}

	// The jobs go through a cluster client, which routes each command by
	// its slot, as a program on a real cluster would.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{s.Addr}})
	defer cc.Close()
	const n = 600_000
	for _, j := range []Job{
		{Func: "queue-test-harmonic", N: n, Chunks: 5, Redundancy: 2},
		{Func: testFunc, N: 1e7, Chunks: 4},
	} {
		var wg sync.WaitGroup
		sub, err := Submit(ctx, cc, j, CoordinateOptions{Started: func(j Job, _ int) {
			for _, id := range []string{"a", "b"} {
				wg.Go(func() {
					if _, err := Work(ctx, cc, WorkerOptions{ID: id, Job: j.ID, Poll: 20 * time.Millisecond}); err != nil {
						t.Error(err)
					}
				})
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		red, err := sub.Wait(ctx)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		var want float64
		if j.Func == testFunc {
			want = teleClosed(nil, 0, j.N)
			if math.Abs(red.Value-want) > 1e-15*want {
				t.Errorf("%s: %v, exact %v", j.Func, red.Value, want)
			}
			continue
		}
		if want = exactPieces(harmonic, partial.Sum, n, sub.Job.Grain); math.Float64bits(red.Value) != math.Float64bits(want) {
			t.Errorf("%s: %v, want %v", j.Func, red.Value, want)
		}
	}
	checkKeys(ctx, t, client)
}
