package server

import (
	"context"
	"net"
	"slices"
	"sync"

	"chatrelay/internal/httpapi"
)

// Broker connections are named so that operators can tell the replicas
// apart in RabbitMQ's management UI. The AMQP connection of the room
// store carries the connection_name "chatrelay <replica> rooms".
// RabbitMQ 3.10 names a STOMP connection by its address pair only
// ("CLIENT:PORT -> BROKER:PORT"; its client_properties hold just
// {"product":"STOMP client"}, whatever the CONNECT frame carries), so the
// replica records the address pairs of its upstream STOMP connections as
// it dials them, and GET /api/admin/rooms lists them under its name.

// amqpConnectionName is the connection_name of a replica's AMQP
// connection.
func amqpConnectionName(replica string) string { return "chatrelay " + replica + " rooms" }

// amqpNamed is a rooms store holding AMQP connections (rabbitstore's: its
// own and its room tails', "chatrelay REPLICA rooms tails N").
type amqpNamed interface {
	// AMQPConnectionNames returns the connection_name of each.
	AMQPConnectionNames() []string
}

// upstreams tracks the open upstream STOMP connections of the relay (it
// dials through dial).
type upstreams struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func newUpstreams() *upstreams { return &upstreams{conns: map[*trackedConn]struct{}{}} }

// dial opens a TCP connection to addr and tracks it until it is closed.
func (u *upstreams) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &trackedConn{Conn: nc, u: u}
	u.mu.Lock()
	u.conns[c] = struct{}{}
	u.mu.Unlock()
	return c, nil
}

// names returns the management UI's names of the tracked connections,
// sorted.
func (u *upstreams) names() []string {
	u.mu.Lock()
	out := make([]string, 0, len(u.conns))
	for c := range u.conns {
		out = append(out, c.LocalAddr().String()+" -> "+c.RemoteAddr().String())
	}
	u.mu.Unlock()
	slices.Sort(out)
	return out
}

// trackedConn is a net.Conn that leaves its upstreams when closed.
type trackedConn struct {
	net.Conn
	u    *upstreams
	once sync.Once
}

// Close implements net.Conn.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.u.mu.Lock()
		delete(c.u.conns, c)
		c.u.mu.Unlock()
	})
	return c.Conn.Close()
}

// replicaView describes this replica for GET /api/admin/rooms.
func (s *Server) replicaView() httpapi.ReplicaView {
	v := httpapi.ReplicaView{ID: s.cfg.ReplicaName(), Connections: []httpapi.BrokerConnection{}}
	if s.upstreams == nil {
		return v // the embedded broker: no broker connections
	}
	names := []string{amqpConnectionName(v.ID)}
	if s.amqpNames != nil {
		names = s.amqpNames.AMQPConnectionNames()
	}
	for _, name := range names {
		v.Connections = append(v.Connections, httpapi.BrokerConnection{Protocol: "AMQP 0-9-1", Name: name})
	}
	for _, name := range s.upstreams.names() {
		v.Connections = append(v.Connections, httpapi.BrokerConnection{Protocol: "STOMP", Name: name})
	}
	return v
}
