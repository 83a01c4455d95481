package transport

import (
	"chatrelay/internal/session"
	"chatrelay/internal/stomp"
)

// Handler is what a transport drives on top of one connection: the
// STOMP session (*session.Session implements it). The connection's read
// loop is its only caller of Receive, ReadFailed and MessageTooBig;
// Shutdown and Done may be called from any goroutine.
type Handler interface {
	// Receive handles one transport message; an error means the session
	// is over and the read loop stops.
	Receive(p []byte) error
	// ReadFailed tells the session the transport can read no more.
	ReadFailed(err error)
	// MessageTooBig ends the session because a transport message was
	// longer than limit bytes.
	MessageTooBig(limit int64)
	// Shutdown ends the session because the server is stopping.
	Shutdown()
	// Done is closed once the session has ended and its socket closed.
	Done() <-chan struct{}
}

var _ Handler = (*session.Session)(nil)

// SessionFactory creates the session for an accepted connection.
type SessionFactory func(conn session.Conn, remote string, version stomp.Version, hs session.Handshake) Handler
