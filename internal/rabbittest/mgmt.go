package rabbittest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// The management plugin refreshes its statistics about every second on these
// nodes (collect_statistics_interval = 500, 1 s sample policies), so a new
// connection or queue shows up in the API within 1-2 s: poll with WaitFor.

// Connection is one entry of GET /api/connections.
type Connection struct {
	Name             string         `json:"name"`
	User             string         `json:"user"`
	Vhost            string         `json:"vhost"`
	Protocol         string         `json:"protocol"` // "STOMP 1.2", "Web STOMP 1.2", "AMQP 0-9-1"
	PeerHost         string         `json:"peer_host"`
	PeerPort         int            `json:"peer_port"`
	Port             int            `json:"port"` // the node's listener port
	State            string         `json:"state"`
	Node             string         `json:"node"` // the Erlang node the client is connected to
	Channels         int            `json:"channels"`
	ClientProperties map[string]any `json:"client_properties"`
}

// QueueRef names a queue inside other management objects.
type QueueRef struct {
	Name  string `json:"name"`
	Vhost string `json:"vhost"`
}

// Queue is one entry of GET /api/queues.
type Queue struct {
	Name                   string         `json:"name"`
	Vhost                  string         `json:"vhost"`
	Type                   string         `json:"type"` // classic, quorum, stream
	State                  string         `json:"state"`
	Durable                bool           `json:"durable"`
	AutoDelete             bool           `json:"auto_delete"`
	Exclusive              bool           `json:"exclusive"`
	Arguments              map[string]any `json:"arguments"`
	Consumers              int            `json:"consumers"`
	Messages               int            `json:"messages"`
	MessagesReady          int            `json:"messages_ready"`
	MessagesUnacknowledged int            `json:"messages_unacknowledged"`
}

// ChannelDetails says which channel and connection a consumer belongs to.
type ChannelDetails struct {
	Name           string `json:"name"`
	Number         int    `json:"number"`
	User           string `json:"user"`
	ConnectionName string `json:"connection_name"`
	PeerHost       string `json:"peer_host"`
	PeerPort       int    `json:"peer_port"`
}

// UnmarshalJSON accepts the empty list RabbitMQ 3.10 reports for a
// consumer whose channel is gone (a stream consumer left behind by a
// closed connection).
func (c *ChannelDetails) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		*c = ChannelDetails{}
		return nil
	}
	type plain ChannelDetails
	return json.Unmarshal(b, (*plain)(c))
}

// Consumer is one entry of GET /api/consumers.
type Consumer struct {
	Queue          QueueRef       `json:"queue"`
	ConsumerTag    string         `json:"consumer_tag"`
	AckRequired    bool           `json:"ack_required"`
	Exclusive      bool           `json:"exclusive"`
	PrefetchCount  int            `json:"prefetch_count"`
	Arguments      map[string]any `json:"arguments"`
	ChannelDetails ChannelDetails `json:"channel_details"`
}

// Binding is one entry of GET /api/bindings.
type Binding struct {
	Source          string         `json:"source"` // exchange; "" is the default exchange
	Vhost           string         `json:"vhost"`
	Destination     string         `json:"destination"`
	DestinationType string         `json:"destination_type"` // queue or exchange
	RoutingKey      string         `json:"routing_key"`
	Arguments       map[string]any `json:"arguments"`
	PropertiesKey   string         `json:"properties_key"`
}

// Exchange is one entry of GET /api/exchanges.
type Exchange struct {
	Name       string         `json:"name"`
	Vhost      string         `json:"vhost"`
	Type       string         `json:"type"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Internal   bool           `json:"internal"`
	Arguments  map[string]any `json:"arguments"`
}

var mgmtClient = &http.Client{Timeout: 10 * time.Second}

// Connections lists the node's client connections (STOMP, Web-STOMP, AMQP).
func (n *Node) Connections() ([]Connection, error) {
	var out []Connection
	err := n.MgmtGet("/api/connections", &out)
	return out, err
}

// Queues lists the node's queues in all vhosts.
func (n *Node) Queues() ([]Queue, error) {
	var out []Queue
	err := n.MgmtGet("/api/queues", &out)
	return out, err
}

// Consumers lists the node's consumers in all vhosts.
func (n *Node) Consumers() ([]Consumer, error) {
	var out []Consumer
	err := n.MgmtGet("/api/consumers", &out)
	return out, err
}

// Bindings lists the node's bindings in all vhosts.
func (n *Node) Bindings() ([]Binding, error) {
	var out []Binding
	err := n.MgmtGet("/api/bindings", &out)
	return out, err
}

// Exchanges lists the node's exchanges in all vhosts.
func (n *Node) Exchanges() ([]Exchange, error) {
	var out []Exchange
	err := n.MgmtGet("/api/exchanges", &out)
	return out, err
}

// CloseConnection force-closes one client connection by its management
// name (Connection.Name), as an operator would from the UI.
func (n *Node) CloseConnection(name string) error {
	return n.mgmtDo(http.MethodDelete, "/api/connections/"+url.PathEscape(name), nil)
}

// MgmtGet GETs path (for example "/api/queues/%2F/q1") from the management
// HTTP API as guest and decodes the JSON answer into out.
func (n *Node) MgmtGet(path string, out any) error {
	return n.mgmtDo(http.MethodGet, path, out)
}

func (n *Node) mgmtDo(method, path string, out any) error {
	req, err := http.NewRequest(method, n.MgmtURL()+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth("guest", "guest")
	req.Header.Set("X-Reason", "chatrelay test") // shown to clients when closing connections
	resp, err := mgmtClient.Do(req)
	if err != nil {
		return fmt.Errorf("rabbittest: management %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("rabbittest: management %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("rabbittest: management %s %s: %s: %s", method, path, resp.Status, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("rabbittest: management %s %s: decode: %w", method, path, err)
	}
	return nil
}
