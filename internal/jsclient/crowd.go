package jsclient

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// CrowdConfig says what test/js/chatters.mjs runs: Clients @stomp/stompjs
// users, client i on URLs[i % len(URLs)] as LoginPrefix+i in room
// Rooms[i % len(Rooms)], each sending Messages TALK messages (receipted)
// one every Interval once Go is called.
type CrowdConfig struct {
	URLs        []string
	Rooms       []string
	Clients     int
	Messages    int
	Interval    time.Duration
	LoginPrefix string
}

// CrowdMember is one chatter's account in a crowd's report.
type CrowdMember struct {
	Client    int      `json:"client"`
	Room      string   `json:"room"`
	Sent      int      `json:"sent"`
	Receipted int      `json:"receipted"`
	Received  []string `json:"received"`
	Lost      bool     `json:"lost"`
}

// crowdEvent is one line chatters.mjs wrote.
type crowdEvent struct {
	Event   string        `json:"event"`
	Client  int           `json:"client"`
	Reason  string        `json:"reason"`
	Body    string        `json:"body"`
	Error   string        `json:"error"`
	Clients []CrowdMember `json:"clients"`
}

// Crowd is one running chatters.mjs process: many stompjs users that
// never reconnect, so that a lost session shows.
type Crowd struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	done   chan struct{} // closed when stdout ends

	mu      sync.Mutex
	seen    map[string]bool // events of kind subscribed/sent that arrived
	lost    []string        // "client i: reason" for every lost session
	errs    []string        // bodies of /user/queue/errors messages
	report  []CrowdMember
	reports int           // report events so far
	changed chan struct{} // closed and replaced on every event
}

// NewCrowd starts chatters.mjs with cfg and stops it at cleanup. It skips
// or fails as NewT does when node or the packages are missing.
func NewCrowd(t testing.TB, cfg CrowdConfig) *Crowd {
	t.Helper()
	requireAvailable(t, "stompjs crowd")
	arg, err := json.Marshal(map[string]any{
		"urls": cfg.URLs, "rooms": cfg.Rooms, "clients": cfg.Clients,
		"messages": cfg.Messages, "interval_ms": cfg.Interval.Milliseconds(),
		"login_prefix": cfg.LoginPrefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &Crowd{
		stderr:  &tailBuffer{max: 64 << 10},
		done:    make(chan struct{}),
		seen:    map[string]bool{},
		changed: make(chan struct{}),
	}
	cmd, stdin, stdout, err := startScript("chatters.mjs", c.stderr, string(arg))
	if err != nil {
		t.Fatal(err)
	}
	c.cmd, c.stdin = cmd, stdin
	// the read goroutine owns stdout until the script exits
	go c.readLoop(stdout)
	t.Cleanup(c.close)
	return c
}

func (c *Crowd) readLoop(stdout io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var e crowdEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			e = crowdEvent{Event: "fatal", Error: "bad output: " + sc.Text()}
		}
		c.mu.Lock()
		switch e.Event {
		case "lost":
			c.lost = append(c.lost, fmt.Sprintf("client %d: %s", e.Client, e.Reason))
		case "user_error":
			c.errs = append(c.errs, fmt.Sprintf("client %d: %s", e.Client, e.Body))
		case "fatal":
			c.lost = append(c.lost, "script: "+e.Error)
		case "report":
			c.report = e.Clients
			c.reports++
		}
		c.seen[e.Event] = true
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// close ends the script (DISCONNECT for everyone), killing it after 10 s.
func (c *Crowd) close() {
	_ = c.command("exit")
	c.stdin.Close()
	kill := time.AfterFunc(10*time.Second, func() { _ = c.cmd.Process.Kill() })
	<-c.done
	_ = c.cmd.Wait()
	kill.Stop()
}

func (c *Crowd) command(op string) error {
	_, err := fmt.Fprintf(c.stdin, "{\"op\":%q}\n", op)
	return err
}

// wait waits up to d for event kind, or for a lost session or the
// script's end, whichever comes first.
func (c *Crowd) wait(kind string, d time.Duration) error {
	deadline := time.After(d)
	for {
		c.mu.Lock()
		ok, lost, ch := c.seen[kind], append([]string(nil), c.lost...), c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		if len(lost) > 0 && kind != "report" {
			return fmt.Errorf("jsclient: crowd lost sessions before %q: %v%s", kind, lost, c.stderrNote())
		}
		select {
		case <-ch:
		case <-c.done:
			return fmt.Errorf("jsclient: chatters.mjs exited before %q%s", kind, c.stderrNote())
		case <-deadline:
			return fmt.Errorf("jsclient: no %q from the crowd within %v%s", kind, d, c.stderrNote())
		}
	}
}

// WaitSubscribed waits until every chatter's room subscription is receipted.
func (c *Crowd) WaitSubscribed(d time.Duration) error { return c.wait("subscribed", d) }

// Go makes every chatter start sending.
func (c *Crowd) Go() error { return c.command("go") }

// WaitSent waits until every chatter has every SEND receipted.
func (c *Crowd) WaitSent(d time.Duration) error { return c.wait("sent", d) }

// Report asks for and returns every chatter's account as it is now.
func (c *Crowd) Report(d time.Duration) ([]CrowdMember, error) {
	c.mu.Lock()
	n := c.reports
	c.mu.Unlock()
	if err := c.command("report"); err != nil {
		return nil, err
	}
	deadline := time.After(d)
	for {
		c.mu.Lock()
		got, report, ch := c.reports > n, c.report, c.changed
		c.mu.Unlock()
		if got {
			return report, nil
		}
		select {
		case <-ch:
		case <-c.done:
			return nil, fmt.Errorf("jsclient: chatters.mjs exited before its report%s", c.stderrNote())
		case <-deadline:
			return nil, fmt.Errorf("jsclient: no report from the crowd within %v%s", d, c.stderrNote())
		}
	}
}

// Lost returns every session the crowd lost so far, with its reason.
func (c *Crowd) Lost() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lost...)
}

// UserErrors returns every /user/queue/errors message the crowd got.
func (c *Crowd) UserErrors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

func (c *Crowd) stderrNote() string {
	if s := c.stderr.String(); s != "" {
		return "\nchatters.mjs stderr:\n" + s
	}
	return ""
}
