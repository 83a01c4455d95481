// Package session runs one client's STOMP session: it decodes what the
// transport reads, negotiates CONNECT, applies the destination policy,
// routes /app frames to handlers, follows room topics through the room
// store (rooms.Store), sends everything else to the relay, and owns the
// only goroutine that writes to the client's socket (writer.go). Frames
// coming back (Deliver, room deliveries) never block: they go into a
// bounded send queue whose overflow closes the session as a slow
// consumer (outqueue.go).
package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"chatrelay/internal/auth"
	"chatrelay/internal/destination"
	"chatrelay/internal/i18n"
	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// Conn is the transport under a session: a WebSocket or SockJS connection
// carrying STOMP bytes. Only the session's writer goroutine calls
// WriteMessage and Close.
type Conn interface {
	// WriteMessage writes one message, within the write timeout. text
	// reports that p is valid UTF-8 (and the session lets it be text):
	// a WebSocket sends it as a text message then, as a binary one
	// otherwise. It must not keep p, which the writer reuses once it
	// returns.
	WriteMessage(p []byte, text bool) error
	// SetReadDeadline bounds the transport's next read; zero means none.
	SetReadDeadline(t time.Time) error
	// Close ends the connection with a close code and reason.
	Close(code int, reason string) error
}

// WebSocket close codes the session uses.
const (
	CloseNormal       = 1000
	CloseGoingAway    = 1001
	CloseProtocol     = 1002
	ClosePolicy       = 1008
	CloseTooBig       = 1009
	CloseServerError  = 1011
	CloseSlowConsumer = 4001
	CloseHeartBeat    = 4002
)

// Options are the settings and collaborators every session shares.
type Options struct {
	// Broker is the relay to the broker (RelayBroker adapts
	// *relay.Relay); sessions reach it only through this seam.
	Broker   Broker
	Policy   *destination.Policy
	Router   *router.Router
	Auth     auth.Authenticator
	Limits   stomp.Limits
	Logger   *slog.Logger
	Server   string // the CONNECTED server header
	HostName string // the CONNECTED server's host, for logs

	HeartBeatSend    time.Duration
	HeartBeatReceive time.Duration
	HeartBeatGrace   time.Duration
	ConnectTimeout   time.Duration
	PreconnectBytes  int // bytes accepted before CONNECT; 0 means no budget
	// BinaryFrames sends every message to the client as binary
	// (stomp.websocket_frames: binary); otherwise a message that is
	// valid UTF-8 goes as text (textframes.go).
	BinaryFrames bool
	// DurableTopics: the broker keeps durable topic subscriptions
	// (RabbitMQ); without it they are refused (durable.go).
	DurableTopics    bool
	SendQueueBytes   int
	MaxSubscriptions int
	MaxTransactions  int
	// MaxTxBytes bounds the SENDs (body and headers) held in the
	// session's open transactions until COMMIT or ABORT; 0: unbounded.
	MaxTxBytes int
	// SendLimits bound each session's SEND rate; the zero value means
	// unlimited.
	SendLimits SendLimits
	// DisconnectWait bounds how long DISCONNECT's RECEIPT waits for the
	// receipts the session still owes (default 5 s); set it above the
	// longest a handler may take to finish a SEND (router.Context.Later).
	DisconnectWait time.Duration

	// UserConns (optional) counts sessions per user from CONNECT on and
	// refuses a user's CONNECT past its limit.
	UserConns *ConnCounter
	// SlowConsumers (optional) counts sessions closed as slow consumers.
	SlowConsumers *atomic.Int64
	// Observer (optional) is told what sessions do, for metrics.
	Observer Observer

	// Rooms, when set, serves SUBSCRIBEs to existing rooms' topics with
	// history and resume; Presence and OnPresence (optional) learn who
	// follows which room.
	Rooms      rooms.Store
	MaxHistory int
	Presence   Presence
	OnPresence func(roomID, user string, entered bool)

	// DefaultLanguage is the language of sessions whose CONNECT and
	// handshake name no supported one (stomp.default_language); ""
	// means i18n.Default.
	DefaultLanguage i18n.Lang

	// ClientPresence makes a client's own ENTER its presence
	// announcement (Spring-tutorial compatibility, see claim.go): a
	// session whose user was generated (auth.Identity.Anonymous) is not
	// announced when it subscribes to a room, only once its ENTER names
	// it (router.Context.Claim).
	ClientPresence bool
	// CreateRoom, when set, creates the room an aliased room SUBSCRIBE
	// (/sub/chat/room/{id}) names when no room has that id; nil refuses
	// it as "room not found".
	CreateRoom rooms.CreateByID
}

// Handshake is what the transport learned from the WebSocket handshake
// that the session needs at CONNECT.
type Handshake struct {
	// Token is the bearer token the handshake carried (query parameter
	// or cookie), "" when none. It is never logged.
	Token string
	// Transport names the transport ("ws", "sockjs") for metrics and
	// logs; "" is logged and counted as is.
	Transport string
	// AcceptLanguage is the handshake's Accept-Language header, ""
	// when none (language.go).
	AcceptLanguage string
}

// Session is one client connection's STOMP state. Receive is called by the
// transport's read loop only; Deliver may be called from any goroutine.
type Session struct {
	opts      *Options
	conn      Conn
	id        string
	remote    string
	transport string                    // the Handshake's Transport
	logUser   atomic.Pointer[string]    // the user, for logs: set once at CONNECT, read by every goroutine
	lang      atomic.Pointer[i18n.Lang] // set once at CONNECT, read by every goroutine (language.go)
	dec       *stomp.Decoder
	out       *outQueue
	batching  bool // conn is a Batcher that accepts several frames per message

	// reader-goroutine state
	connected  bool
	version    atomic.Int32 // stomp.Version; set by the reader at CONNECT, read by producers
	subproto   stomp.Version
	user       string
	anonymous  bool           // user was generated (auth.Identity.Anonymous)
	handshake  Handshake      // cleared once CONNECT has used it
	txs        map[string]int // open transactions: bytes of SENDs held; nil until the first BEGIN
	txBytes    int            // their sum
	recvEvery  time.Duration
	preconnect int          // bytes received before CONNECT
	sendLimit  *sendLimiter // nil when SENDs are unlimited

	// writer-goroutine state: only the running writer uses it (see
	// outQueue for the handover between writers)
	lastWrite time.Time

	upMu         sync.Mutex
	upstream     Upstream // set once, when first needed (up), by the reader goroutine under upMu
	upReleased   bool
	userCounted  string // the user counted in opts.UserConns, under upMu
	hasUserCount bool
	opened       bool // counted by the observer as open, under upMu

	gate receiptGate

	subsMu sync.RWMutex
	subs   map[string]*subscription // by client subscription id
	// claimMu orders a claim (claim.go) and the leaving of a room
	// subscription: each reads a subscription's presence name and moves
	// its presence count as one step. OnPresence runs under it: it must
	// not block nor call into the session (the announcer's Change).
	claimMu sync.Mutex

	ctx        context.Context // cancelled when the session ends
	cancel     context.CancelFunc
	finishOnce sync.Once
	done       chan struct{} // made by the first Done, under upMu
	ended      bool          // finish is over: done is closed once made, under upMu
	onFinish   func(*Session)
}

// subscription is what the session remembers of one client SUBSCRIBE.
type subscription struct {
	id      string
	target  destination.Target
	display string // the destination header clients see on MESSAGE
	// wildcard: target is a pattern, so MESSAGEs name the destination
	// that matched (destination.Policy.Display) instead of display
	wildcard bool
	// header is the encoded "subscription:<id>" line of this
	// subscription's room MESSAGEs, set before the room is followed
	header []byte
	// for room subscriptions (guarded by subsMu): the room and how to
	// stop following it
	room    string
	stop    func()
	private bool // the room was private when subscribed: re-check access
	// upstream: the broker subscription is made (set by the reader once
	// Subscribe returned; guarded by subsMu)
	upstream bool
	// since is when the room subscription began: a kick or ban
	// announced before it is history, not news (endsSubscription)
	since time.Time
	// as is the name the subscription counts under in presence, shown
	// whether the room was told of it (see claim.go)
	as    string
	shown bool
	// durable: a durable topic subscription (durable.go), whose queue an
	// UNSUBSCRIBE with durable:true deletes
	durable bool
}

// New creates the session for a freshly upgraded connection. Its writer
// goroutine runs only while there is something to write. subprotocol is the version the handshake negotiated
// (V12 when the client offered none); hs is what else the handshake
// carried. onFinish runs once when it ends.
func New(opts *Options, conn Conn, remote string, subprotocol stomp.Version, hs Handshake, onFinish func(*Session)) *Session {
	s := &Session{
		opts:      opts,
		conn:      conn,
		id:        newID("s-"),
		remote:    remote,
		transport: hs.Transport,
		dec:       stomp.NewDecoder(opts.Limits),
		subproto:  subprotocol,
		handshake: hs,
		subs:      map[string]*subscription{},
		sendLimit: newSendLimiter(opts.SendLimits), // full bucket: no SEND can precede CONNECT
		onFinish:  onFinish,
		lastWrite: time.Now(),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.version.Store(int32(subprotocol))
	s.out = newOutQueue(opts.SendQueueBytes, s.writeLoop)
	if b, ok := conn.(Batcher); ok {
		s.batching = b.BatchFrames()
	}
	if opts.ConnectTimeout > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(opts.ConnectTimeout))
	}
	return s
}

// ID returns the session id sent in CONNECTED.
func (s *Session) ID() string { return s.id }

// User returns the authenticated user, "" before CONNECT.
func (s *Session) User() string { return s.user }

// Done is closed when the session has ended and its socket is closed.
// The channel is made on the first call (an idle session keeps none).
func (s *Session) Done() <-chan struct{} {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		if s.ended {
			close(s.done)
		}
	}
	return s.done
}

// log logs msg at level with args after the session's attributes: its
// id, remote address, transport and, once connected, user. The record is
// built only when the level is enabled, and a session keeps no logger of
// its own: thousands of idle sessions would each hold a cloned handler.
func (s *Session) log(level slog.Level, msg string, args ...any) {
	ctx := context.Background()
	if !s.opts.Logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]any, 0, 8+len(args))
	attrs = append(attrs, "session", s.id, "remote", s.remote, "transport", s.transport)
	if u := s.logUser.Load(); u != nil {
		attrs = append(attrs, "user", *u)
	}
	s.opts.Logger.Log(ctx, level, msg, append(attrs, args...)...)
}

// writeVersion is the version frames to the client are encoded in.
func (s *Session) writeVersion() stomp.Version { return stomp.Version(s.version.Load()) }

// ErrClosed is returned by Receive once the session is over.
var ErrClosed = errors.New("session closed")

// Receive handles one transport message: any number of whole or partial
// frames and heart-beats. It returns an error when the session is over
// and the transport should stop reading.
func (s *Session) Receive(p []byte) error {
	if s.out.isClosing() {
		return ErrClosed
	}
	s.armReadDeadline()
	began := time.Now()
	err := s.feedBudget(p)
	if err == nil && time.Since(began) > slowHandling {
		// the reader was busy (a room's replay, a feed catching up):
		// the client's silence while nothing read does not count
		s.armReadDeadline()
	}
	return err
}

// ReadFailed tells the session that the transport can read no more: the
// peer went away, or a deadline passed.
func (s *Session) ReadFailed(err error) {
	if isTimeout(err) && !s.out.isClosing() {
		if !s.connected {
			s.fail(nil, Close{
				Code:    CloseProtocol,
				Message: "no CONNECT frame in time",
				Detail:  s.connectTimeoutDetail(),
			})
		} else {
			s.fail(nil, Close{
				Code:    CloseHeartBeat,
				Message: "heart-beat timeout",
				Detail:  "no data from the client within the negotiated heart-beat interval",
			})
		}
		return
	}
	s.out.close(nil, CloseNormal, "", false)
}

// Shutdown ends the session because the server is stopping: the client
// gets an ERROR saying so, after what was already queued.
func (s *Session) Shutdown() {
	s.fail(nil, Close{Code: CloseGoingAway, Message: "server shutting down", Detail: "reconnect to another replica"})
}

// armReadDeadline moves the read deadline after traffic from the client.
func (s *Session) armReadDeadline() {
	if !s.connected {
		return
	}
	if s.recvEvery <= 0 {
		_ = s.conn.SetReadDeadline(time.Time{})
		return
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(2*s.recvEvery + s.opts.HeartBeatGrace))
}

// up returns the session's upstream, attaching the session to the relay
// the first time it needs the broker: a session that only follows rooms
// (rooms.Store) never holds a relay client. Once the session has ended
// it returns a closed one, whose calls fail as they would have on the
// session's own upstream after finish closed it. The reader goroutine
// alone calls it.
func (s *Session) up() Upstream {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	if s.upstream != nil {
		return s.upstream
	}
	up := s.opts.Broker.Attach(s)
	if s.upReleased {
		up.Close()
		return up
	}
	s.upstream = up
	return up
}

// released reports whether the session has ended (finish has run).
func (s *Session) released() bool {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	return s.upReleased
}

// attached returns the session's upstream, nil when it has none yet.
func (s *Session) attached() Upstream {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	return s.upstream
}

// finish releases everything the session holds; it runs once, from the
// writer goroutine after the socket is closed.
func (s *Session) finish() {
	s.finishOnce.Do(func() {
		s.upMu.Lock()
		s.upReleased = true
		up := s.upstream
		if s.hasUserCount {
			s.opts.UserConns.Release(s.userCounted)
			s.hasUserCount = false
		}
		s.countClosed()
		s.upMu.Unlock()
		if up != nil {
			up.Close()
		}
		s.cancel() // before leaveAllRooms: see subscribeRoom
		s.leaveAllRooms()
		s.upMu.Lock()
		s.ended = true
		if s.done != nil {
			close(s.done)
		}
		s.upMu.Unlock()
		if s.onFinish != nil {
			s.onFinish(s)
		}
		s.log(slog.LevelDebug, "session ended")
	})
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// newID returns prefix followed by 12 random hex digits.
func newID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
