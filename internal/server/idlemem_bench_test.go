package server

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/stomptest"
	"chatrelay/internal/testkit"
)

// BenchmarkIdleConnections measures what an idle connection costs the
// server (issue 17 item 3): -idle-conns clients CONNECT with 20 s
// heart-beats both ways and SUBSCRIBE (receipted) to one room of a replica
// on the embedded broker, then hold. The clients run in a child process
// (this test binary again, see idleClientsMain) so that this process's
// memory statistics count the server's side alone. Once every client has
// its RECEIPT and the server's goroutines have settled, it reports per
// connection:
//
//   - heap-B/conn: HeapInuse growth after a GC (live objects, rounded to
//     their size classes and spans);
//   - stack-B/conn: StackInuse growth (the reader goroutines' stacks);
//   - sys-B/conn: growth of the runtime's Sys outside heap and stacks
//     (pollDescs, timers' and scheduler's structures, GC metadata);
//   - goroutines/conn: goroutines added (one reader each when idle).
//
// RSS is left to chatbench against a built replica (docs/benchmark.md):
// in-process RSS holds freed pages the runtime has not returned yet.
//
//	go test -short -run '^$' -bench IdleConnections -benchtime 1x ./internal/server
//
// (-short: the package's RabbitMQ node is not started).
func BenchmarkIdleConnections(b *testing.B) {
	n := *idleConns
	cfg := testConfig(b, config.BrokerEmbedded)
	cfg.Limits.MaxConnections = n + 100
	cfg.Limits.MaxConnectionsPerAddress = n + 100
	r := start(b, cfg)
	room := createRoom(b, r, unique(b))
	waitRoom(b, r, room)
	var heap, stack, sys, gs float64
	for i := 0; i < b.N; i++ {
		m := measureIdle(b, r, room, n)
		heap += m.heap
		stack += m.stack
		sys += m.sys
		gs += m.goroutines
	}
	b.ReportMetric(heap/float64(b.N), "heap-B/conn")
	b.ReportMetric(stack/float64(b.N), "stack-B/conn")
	b.ReportMetric(sys/float64(b.N), "sys-B/conn")
	b.ReportMetric(gs/float64(b.N), "goroutines/conn")
	b.ReportMetric(0, "ns/op") // one op is seconds of connecting: not a figure
}

// BenchmarkIdleConnections' flags: how many clients, and where to write
// a heap profile taken while they are held (with -test.memprofilerate=1
// it counts every allocation the connections keep).
var (
	idleConns   = flag.Int("idle-conns", 2000, "BenchmarkIdleConnections: idle clients held")
	idleProfile = flag.String("idle-heapprofile", "", "BenchmarkIdleConnections: write the heap profile while the clients are held to this file")
)

// idleCost is one measurement's growth per connection.
type idleCost struct{ heap, stack, sys, goroutines float64 }

// measureIdle connects n idle clients from a child process to room on r,
// measures, and ends the child (whose connections then close).
func measureIdle(b *testing.B, r *replica, room string, n int) idleCost {
	b.Helper()
	b.StopTimer()
	before, beforeG := settledStats()
	b.StartTimer()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", idleChildEnv, r.URL(), room, n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	ended := false
	end := func() {
		if !ended {
			ended = true
			_ = stdin.Close() // the child exits at the end of its input
			_ = cmd.Wait()
		}
	}
	defer end()
	// the child writes "ready" once every client has its RECEIPT, or
	// why it could not, and nothing else
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		b.Fatalf("idle clients: %q %v", line, err)
	}
	b.StopTimer()
	// a writer goroutine ends after its session's RECEIPT went out: wait
	// until only the readers are left
	want := beforeG + n
	if err := testkit.WaitFor(30*time.Second, func() (bool, error) { return runtime.NumGoroutine() <= want, nil }); err != nil {
		b.Fatalf("goroutines %d, want at most %d (one reader per idle connection): %v", runtime.NumGoroutine(), want, err)
	}
	after, afterG := settledStats()
	if *idleProfile != "" {
		writeHeapProfile(b, *idleProfile)
	}
	if got := r.srv.ws.Connections(); got < n {
		b.Fatalf("%d connections held, want %d", got, n)
	}
	end()
	b.StartTimer()
	per := func(a, z uint64) float64 { return (float64(z) - float64(a)) / float64(n) }
	return idleCost{
		heap:       per(before.HeapInuse, after.HeapInuse),
		stack:      per(before.StackInuse, after.StackInuse),
		sys:        per(before.Sys-before.HeapSys-before.StackSys, after.Sys-after.HeapSys-after.StackSys),
		goroutines: float64(afterG-beforeG) / float64(n),
	}
}

// settledStats collects the garbage and returns the memory statistics and
// the goroutine count.
func settledStats() (runtime.MemStats, int) {
	runtime.GC()
	runtime.GC() // frees what the first one's finalizers released
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m, runtime.NumGoroutine()
}

// writeHeapProfile writes the heap profile to path.
func writeHeapProfile(b *testing.B, path string) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// idleChildEnv, when set ("URL ROOM N"), makes the test binary the
// benchmark's client process (idleClientsMain) instead of running tests.
const idleChildEnv = "CHATRELAY_IDLE_CLIENTS"

// idleClientsMain is the benchmark's child process: n clients CONNECT to
// url as idle-0, idle-1, ... with heart-beats 20000,20000 and SUBSCRIBE to
// room with a receipt; it prints "ready" once all have their RECEIPT (or
// the first error, and exits 1), heart-beats every 10 s, and exits when
// its standard input ends. Each client's reader goroutine is stomptest's.
func idleClientsMain(arg string) int {
	var url, room string
	var n int
	if _, err := fmt.Sscanf(arg, "%s %s %d", &url, &room, &n); err != nil {
		fmt.Printf("bad %s %q: %v\n", idleChildEnv, arg, err)
		return 1
	}
	clients := make([]*stomptest.Client, n)
	errs := make(chan error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	// 32 dialling goroutines, each owning the clients it dials until
	// they are all connected and subscribed
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := idleClient(url, room, i)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					continue
				}
				clients[i] = c
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		fmt.Println(strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	default:
	}
	fmt.Println("ready")
	// the heart-beat goroutine owns the clients' writes from here on
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, c := range clients {
					_ = c.Raw([]byte("\n"))
				}
			}
		}
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	close(stop)
	for _, c := range clients {
		_ = c.Close()
	}
	return 0
}

// idleClient dials, connects and subscribes one idle client.
func idleClient(url, room string, i int) (*stomptest.Client, error) {
	c, _, err := stomptest.Dial(url, stomptest.Options{Subprotocols: []string{"v12.stomp"}})
	if err != nil {
		return nil, err
	}
	if _, err := c.Connect("login", "idle-"+strconv.Itoa(i), "heart-beat", "20000,20000"); err != nil {
		_ = c.Close()
		return nil, err
	}
	if err := c.Subscribe("room", "/topic/room."+room); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}
