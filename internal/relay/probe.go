package relay

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"chatrelay/internal/stomp"
)

// Probes. RabbitMQ answers a frame it refuses — a SUBSCRIBE to a missing
// exchange or queue (not_found), to a queue declared with other arguments
// (precondition_failed), a SUBSCRIBE or SEND its user may not make
// (access_refused), a header value it cannot read (precondition_failed
// for expiration or user-id, "Processing error" for a malformed
// prefetch-count, priority or x-* argument) — with an ERROR, and most of
// the time closes the connection, which is every client's. refusals.go
// cleans up after such a close; a probe keeps it from happening.
//
// Before the relay puts a frame the broker might refuse on a shared
// connection, it makes that frame once on a connection of its own (a
// probe: a fresh STOMP connection with the relay's credentials, to the
// node the shared connection is on), unless a frame of the same kind
// (subscribeKey, sendKey: command, destination and the headers the
// broker reads) was accepted lately:
//
//   - SUBSCRIBE: the probe subscribes with a receipt and hangs up. A /topic
//     or /exchange subscription's queue is exclusive and goes with the
//     probe. A queue subscription asks for client-individual acks and a
//     prefetch of one, and the hang-up gives back, unacknowledged, what
//     the broker had sent the probe meanwhile: a message is never lost or
//     taken, but one may come to its consumer marked redelivered (STOMP
//     cannot ask "may I consume" without consuming). A stream is only
//     read. Then the client's SUBSCRIBE goes on the shared connection.
//   - SEND outside a transaction: the probe carries that very SEND, with a
//     receipt, so nothing is published twice. Order is kept: the
//     client's earlier frames on its pinned connection (for the server's
//     publishes, everything on the destination's connection) are
//     processed by the broker first (a BEGIN/ABORT barrier, receipted),
//     its subscriptions elsewhere are confirmed first (AwaitOrder), and
//     the client's reader waits for the probe.
//     The server's own publishes (Relay.Publish: presence, rooms, push)
//     never block: they queue behind the probe of their kind and follow
//     it in order.
//
// A refusal answers the asking client alone (an ERROR naming the broker's
// reason: the subscription's, or the SEND's, which ends that client, as
// RabbitMQ's own ERROR would) and is remembered (refusals), so the same
// frame again is refused at once; acceptance is remembered for
// verifiedFor. A frame is probed once however many ask at the same time.
// When no probe can be made (the broker is unreachable, probeWait passes
// without an answer), the frame takes the shared path as before.
//
// A transaction's SENDs are made on a probe at COMMIT, the whole
// transaction on one probe connection (txsend.go).
//
// Not probed: joining a topic subscription already in place
// (nothing goes upstream); subscriptions re-sent after a reconnect (they
// were accepted before: see refusals.go for a broker that changed its
// mind); ACK, NACK, UNSUBSCRIBE, BEGIN, ABORT (the relay only forwards
// them for ids it knows). Only RabbitMQ is probed: the embedded broker
// (go-stomp's server) never closes a connection over such a frame.

const (
	// maxProbes bounds the probes in flight, relay-wide.
	maxProbes = 4
	// probeWait bounds one probe: connecting, the frame, its answer.
	probeWait = 5 * time.Second
	// verifiedFor is how long an accepted frame kind is taken on trust.
	verifiedFor = 2 * time.Minute
	// maxVerified bounds the frame kinds remembered as accepted.
	maxVerified = 4096
	// transientRefusalMemory is how long a probe's not_found, which may
	// not last (transientRefusal), answers the same frame again.
	transientRefusalMemory = 2 * time.Second
)

// probeRabbit turns probes on for RabbitMQ; a variable so that tests can
// watch what happens without them (refusals.go).
var probeRabbit = true

// RefusedError is what Client.Send returns when the broker refused the
// SEND (on a probe): Reason is the broker's error (access_refused,
// not_found, precondition_failed, ...).
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "refused by the broker: " + e.Reason }

// probeOutcome is what a probe learned.
type probeOutcome int

const (
	// probeUnknown: no answer (no connection, no reply in time).
	probeUnknown probeOutcome = iota
	// probeAccepted: the broker receipted the frame.
	probeAccepted
	// probeRefused: the broker sent ERROR.
	probeRefused
)

// probeResult is a probe's outcome and, when refused, the broker's
// reason (its ERROR message header) and body.
type probeResult struct {
	outcome probeOutcome
	reason  string
	body    string
}

// errNotRabbit ends a probe of a broker that needs none.
var errNotRabbit = errors.New("broker is not RabbitMQ")

// probe makes frame f on a connection of its own to addr and reports the
// broker's answer. ctx ends the wait early (probeUnknown).
func (r *Relay) probe(ctx context.Context, addr string, f *stomp.Frame) probeResult {
	g := &stomp.Frame{Command: f.Command, Headers: append(f.Headers.Clone(), stomp.Header{Key: "receipt", Value: "probe"}), Body: f.Body}
	return r.probeFrames(ctx, addr, []*stomp.Frame{g}, []string{"probe"})
}

// probeFrames makes frames, in order, on a connection of its own to addr
// and reports the broker's answer: accepted once the RECEIPTs named in
// want have all come, refused on an ERROR. ctx ends the wait early
// (probeUnknown).
func (r *Relay) probeFrames(ctx context.Context, addr string, frames []*stomp.Frame, want []string) probeResult {
	ctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	select {
	case r.probeSlots <- struct{}{}:
		defer func() { <-r.probeSlots }()
	case <-ctx.Done():
		r.log.Warn("relay: no probe slot in time; forwarding unverified", "waited", probeWait)
		return probeResult{}
	}
	r.probes.Add(1)
	cfg := r.cfg
	cfg.HeartBeat = 0
	s, err := dial(ctx, cfg, addr)
	if err != nil {
		r.log.Warn("relay: probe connection failed; forwarding unverified", "addr", addr, "err", err)
		return probeResult{}
	}
	defer s.conn.Close()
	stop := context.AfterFunc(ctx, func() { s.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if !strings.HasPrefix(s.server, "RabbitMQ/") {
		r.probing.Store(false)
		r.log.Debug("relay: probe", "err", errNotRabbit)
		return probeResult{outcome: probeAccepted}
	}
	var out []byte
	for _, f := range frames {
		out = f.Append(out, stomp.V12)
	}
	if _, err := s.conn.Write(out); err != nil {
		return probeResult{}
	}
	res := readProbe(s, want...)
	if res.outcome == probeAccepted {
		hangUp(s, frames[0].Command == stomp.SUBSCRIBE)
	}
	return res
}

// hangUp ends an accepted probe politely: UNSUBSCRIBE (for a SUBSCRIBE)
// and DISCONNECT, waiting for the broker's receipt (within the probe's
// deadline). A socket merely closed left RabbitMQ 3.10 listing a stream
// consumer of the probe's long after.
func hangUp(s *upSocket, subscribed bool) {
	var out []byte
	if subscribed {
		out = stomp.New(stomp.UNSUBSCRIBE, "id", "probe").Append(out, stomp.V12)
	}
	out = stomp.New(stomp.DISCONNECT, "receipt", "bye").Append(out, stomp.V12)
	if _, err := s.conn.Write(out); err == nil {
		readProbe(s, "bye")
	}
}

// readProbe waits on probe socket s for the RECEIPTs named in want, or
// an ERROR.
func readProbe(s *upSocket, want ...string) probeResult {
	rd := stomp.NewReader(s.conn, s.dec, make([]byte, 16<<10))
	left := make(map[string]bool, len(want))
	for _, id := range want {
		left[id] = true
	}
	for {
		f, err := rd.Next()
		if err != nil {
			return probeResult{} // closed without a word, probeWait passed, or garbled
		}
		switch {
		case f.Command == stomp.RECEIPT && left[f.Header("receipt-id")]:
			delete(left, f.Header("receipt-id"))
			if len(left) == 0 {
				return probeResult{outcome: probeAccepted}
			}
		case f.Command == stomp.ERROR:
			reason := f.Header("message")
			if reason == "" {
				reason = "ERROR"
			}
			return probeResult{outcome: probeRefused, reason: reason, body: string(f.Body)}
		}
	}
}

// probeSubscribe is the SUBSCRIBE a probe makes for a client's
// SUBSCRIBE to dest with shaping headers h (ack and receipt aside): acks
// by the probe, one message at most in its hands (a prefetch-count the
// broker could not read is kept, to be refused as the client's would).
func probeSubscribe(dest string, h stomp.Headers) *stomp.Frame {
	f := stomp.New(stomp.SUBSCRIBE, "id", "probe", "destination", dest, "ack", "client-individual")
	prefetch := false
	for _, kv := range h {
		switch kv.Key {
		case "id", "destination", "ack", "receipt", "content-length":
			continue
		case "prefetch-count":
			prefetch = true
			if n, err := strconv.Atoi(kv.Value); err == nil && n > 0 {
				kv.Value = "1"
			}
		}
		f.Headers = append(f.Headers, kv)
	}
	if !prefetch {
		f.Headers = append(f.Headers, stomp.Header{Key: "prefetch-count", Value: "1"})
	}
	return f
}

// numericShape bounds the values of numeric SEND headers that sendKey
// takes as one: a byte for priority; larger ones are probed as written.
var numericShape = map[string]uint64{"priority": 255, "expiration": 1 << 31, "timestamp": 1 << 62}

// publishKey is the verifyKey of a server publish (Relay.Publish) to dest
// with headers h: sendKey's, except that every dot-separated word of a
// /topic destination after the first counts as any word, so that the
// server's publishes to its rooms (/topic/room.<id>), their side topics
// (/topic/room.<id>.reads) and its users (/topic/user.<name>.reads) share
// one probe per shape instead of taking one per room or user: at a
// replica's start, or when thousands of quiet rooms become active at
// once, a probe per room (four at a time, a fresh connection each) held
// their first messages up for seconds, and more rooms than maxVerified
// were probed again and again; a probe per user did the same to the
// first read positions of a thousand readers. RabbitMQ checks a publish's
// write permission on the exchange; topic permissions that let the
// server's own user publish to one room or user and not another are no
// setup the server can run with. A client's SEND is still probed per
// destination (sendKey).
func publishKey(dest string, h stomp.Headers) string {
	if rest, ok := strings.CutPrefix(dest, "/topic/"); ok {
		if first, more, ok := strings.Cut(rest, "."); ok {
			dest = "/topic/" + first + strings.Repeat(".*", strings.Count(more, ".")+1)
		}
	}
	return sendKey(dest, h)
}

// sendKey is the verifyKey of a SEND to dest with headers h: the
// destination and the headers RabbitMQ reads (application headers vary
// per message and are carried as they are). Of the numeric ones, only
// whether the value is a plain number counts: a client setting a
// different expiration on every message costs one probe, not one each.
func sendKey(dest string, h stomp.Headers) string {
	var b strings.Builder
	b.WriteString("SEND\x00" + dest)
	for _, kv := range h {
		v := kv.Value
		switch kv.Key {
		case "priority", "expiration", "timestamp":
			if n, err := strconv.ParseUint(v, 10, 64); err == nil && n <= numericShape[kv.Key] {
				v = "N" // the shape, not the value
			}
		case "persistent", "user-id", "reply-to", "type", "app-id",
			"amqp-message-id", "durable", "auto-delete", "exclusive":
		default:
			if !strings.HasPrefix(kv.Key, "x-") {
				continue
			}
		}
		b.WriteString("\x00" + kv.Key + ":" + v)
	}
	return b.String()
}
