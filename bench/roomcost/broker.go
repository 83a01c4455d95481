package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"chatrelay/internal/brokerstat"
	"chatrelay/internal/rabbittest"
)

// nodeConfig is the rabbitmq.conf the tool's node gets on top of the
// harness's: statistics every 5 s as RabbitMQ's default (the harness's
// 500 ms makes every queue emit stats ten times as often, which is not
// what a production node pays per idle room).
const nodeConfig = "collect_statistics_interval = 5000\n"

// defaultSettle is how long the tool waits after creating objects before
// it measures: two statistics intervals, so that every new object has
// emitted its first stats and the management API's node sample is fresh.
const defaultSettle = 11 * time.Second

// broker measures and administers the tool's private node.
type broker struct {
	node *rabbittest.Node
	pid  int
	http *http.Client
	// settle is the wait between creating and measuring
	// (defaultSettle; tests wait none).
	settle time.Duration
}

// newBroker wraps a started node.
func newBroker(n *rabbittest.Node) (*broker, error) {
	b, err := os.ReadFile(filepath.Join(n.Dir, "rabbitmq.pid"))
	if err != nil {
		return nil, fmt.Errorf("node pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("node pid: %w", err)
	}
	// deleting a vhost with 10,000 streams takes a while
	return &broker{node: n, pid: pid, http: &http.Client{Timeout: 5 * time.Minute}, settle: defaultSettle}, nil
}

// mgmt sends one management API request as guest and returns the body.
func (b *broker) mgmt(method, path, body string) ([]byte, error) {
	req, err := http.NewRequest(method, b.node.MgmtURL()+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth("guest", "guest")
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("management %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("management %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("management %s %s: %s: %s", method, path, resp.Status, out)
	}
	return out, nil
}

// addVhost creates vhost and gives guest every permission on it.
func (b *broker) addVhost(vhost string) error {
	v := url.PathEscape(vhost)
	if _, err := b.mgmt(http.MethodPut, "/api/vhosts/"+v, `{}`); err != nil {
		return err
	}
	_, err := b.mgmt(http.MethodPut, "/api/permissions/"+v+"/guest", `{"configure":".*","write":".*","read":".*"}`)
	return err
}

// deleteVhost deletes vhost and everything in it, and waits until it is
// gone, so that the next candidate's first snapshot does not see the
// deletion still going on. The DELETE itself may end early (the API
// closes a request that takes minutes, as deleting 10,000 streams does)
// while the node goes on deleting.
func (b *broker) deleteVhost(vhost string) error {
	path := "/api/vhosts/" + url.PathEscape(vhost)
	_, delErr := b.mgmt(http.MethodDelete, path, "")
	err := rabbittest.WaitFor(10*time.Minute, func() (bool, error) {
		_, err := b.mgmt(http.MethodGet, path, "")
		if err != nil && strings.Contains(err.Error(), "404") {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("delete vhost %s: %v; waiting: %w", vhost, delErr, err)
	}
	return nil
}

// amqpURL is the AMQP URL of vhost on the node, as guest.
func (b *broker) amqpURL(vhost string) string {
	return "amqp://guest:guest@" + b.node.AMQPAddr() + "/" + url.PathEscape(vhost)
}

// dial opens an AMQP connection to vhost.
func (b *broker) dial(vhost string) (*amqp.Connection, error) {
	return amqp.DialConfig(b.amqpURL(vhost), amqp.Config{
		Heartbeat:  10 * time.Second,
		Properties: amqp.Table{"connection_name": "chatrelay roomcost"},
	})
}

// snapshot garbage-collects every Erlang process of the node, so that
// dead garbage does not count as cost, then reads the node's memory,
// processes and file descriptors.
func (b *broker) snapshot() (Snapshot, error) {
	var s Snapshot
	if _, err := b.node.Ctl("eval", brokerstat.GCAll); err != nil {
		return s, err
	}
	out, err := b.node.Ctl("status", "--formatter", "json")
	if err != nil {
		return s, err
	}
	st, err := brokerstat.ParseStatus(out)
	if err != nil {
		return s, err
	}
	s.Erlang, s.Breakdown, s.Procs = st.Erlang, st.Breakdown, st.Procs
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", b.pid))
	if err != nil {
		return s, fmt.Errorf("count fds: %w", err)
	}
	s.FDs = len(fds)
	nodes, err := brokerstat.Nodes(context.Background(), b.http, b.node.MgmtURL(), "guest", "guest")
	if err != nil {
		return s, err
	}
	node, err := brokerstat.Find(nodes, b.node.Name)
	if err != nil {
		return s, err
	}
	s.MemUsed = node.MemUsed
	return s, nil
}
