package relay

import (
	"context"
	"strconv"
	"sync"
	"time"

	"chatrelay/internal/stomp"
)

// Verification: which frames go to a probe first (probe.go), and what
// waits for the probe meanwhile.

// verifier remembers the frame kinds (verifyKey) the broker accepted on a
// probe lately, and the probes in flight, one per kind.
type verifier struct {
	mu    sync.Mutex
	ok    map[string]time.Time // accepted, until
	calls map[string]*probeCall
}

// probeCall is one probe in flight. res is set before done is closed.
type probeCall struct {
	done chan struct{}
	res  probeResult
	// after are the server's publishes of the same kind that came while
	// it was in flight: they follow the probe, in order (settle).
	after []deferredSend
}

// deferredSend is a server publish waiting for a probe.
type deferredSend struct {
	conn *upConn
	it   *outItem
}

// acceptedLocked reports whether key was accepted lately. Caller holds
// v.mu.
func (v *verifier) acceptedLocked(key string) bool {
	until, ok := v.ok[key]
	if ok && time.Now().After(until) {
		delete(v.ok, key)
		return false
	}
	return ok
}

// acceptLocked remembers key as accepted for verifiedFor, forgetting
// expired kinds (or any one) to stay under maxVerified. Caller holds v.mu.
func (v *verifier) acceptLocked(key string) {
	now := time.Now()
	if v.ok == nil {
		v.ok = make(map[string]time.Time)
	}
	if _, ok := v.ok[key]; !ok && len(v.ok) >= maxVerified {
		for k, until := range v.ok {
			if now.After(until) {
				delete(v.ok, k)
			}
		}
		for k := range v.ok {
			if len(v.ok) < maxVerified {
				break
			}
			delete(v.ok, k)
		}
	}
	v.ok[key] = now.Add(verifiedFor)
}

// Probes returns how many probe connections the relay has made
// (probe.go).
func (r *Relay) Probes() uint64 { return r.probes.Load() }

// Refused returns how many frames the broker has refused, on probes or on
// the shared connections; a refusal answered from the relay's memory
// (refusals.go) does not count.
func (r *Relay) Refused() uint64 { return r.refused.Load() }

// verdict looks key up: the reason the broker refused it lately (probed
// or not), whether it needs no probe (accepted lately, or a broker that
// needs none), and
// the probe in flight for it, if any. Without a call in flight and with
// lead set, the caller becomes the one to probe: a new call is returned
// with mine set, and the caller must settle it.
func (r *Relay) verdict(key string, lead bool) (refused string, trusted bool, call *probeCall, mine bool) {
	if reason, ok := r.refusals.check(key); ok {
		return reason, false, nil, false
	}
	if !r.probing.Load() {
		return "", true, nil, false
	}
	v := &r.verifier
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.acceptedLocked(key) {
		return "", true, nil, false
	}
	if call = v.calls[key]; call != nil || !lead {
		return "", false, call, false
	}
	call = &probeCall{done: make(chan struct{})}
	if v.calls == nil {
		v.calls = make(map[string]*probeCall)
	}
	v.calls[key] = call
	return "", false, call, true
}

// settle ends probe call for key with res: it remembers the answer, sends
// (or fails) the server publishes that waited for it, in order, and wakes
// the clients that did. lead is the probed server publish, nil for a
// client's frame.
func (r *Relay) settle(key string, call *probeCall, res probeResult, lead *deferredSend) {
	var e effects
	defer e.run()
	switch res.outcome {
	case probeRefused:
		r.refused.Add(1)
		r.rememberRefusal(key, res)
		r.log.Warn("relay: broker refused a frame on a probe; told its client only",
			"frame", truncate(key, 200), "reason", res.reason, "body", truncate(res.body, 300))
	case probeUnknown:
		if lead != nil {
			r.forward(*lead, &e)
		}
	}
	if lead != nil {
		switch res.outcome {
		case probeAccepted:
			lead.it.fail(&e, nil)
		case probeRefused:
			lead.it.fail(&e, &RefusedError{Reason: res.reason})
		}
	}
	v := &r.verifier
	v.mu.Lock()
	defer v.mu.Unlock()
	if res.outcome == probeAccepted {
		v.acceptLocked(key)
	}
	delete(v.calls, key)
	call.res = res
	close(call.done)
	// under v.mu: a publish of this kind that comes now finds it
	// accepted only once these are queued, and goes after them
	for _, d := range call.after {
		if res.outcome == probeRefused {
			d.it.fail(&e, &RefusedError{Reason: res.reason})
			continue
		}
		r.forward(d, &e)
	}
}

// rememberRefusal remembers the broker's refusal res of frame kind key
// (refusals.go), for as long as it is likely to last.
func (r *Relay) rememberRefusal(key string, res probeResult) {
	switch {
	case !transientRefusal(res.reason, res.body):
		r.refusals.add(key, res.reason)
	case res.reason == "not_found":
		r.refusals.addFor(key, res.reason, transientRefusalMemory)
	}
	// else: a stream with no replica on this node yet, which the next
	// try may find
}

// forward queues d on its connection, or fails it.
func (r *Relay) forward(d deferredSend, e *effects) {
	d.conn.mu.Lock()
	err := d.conn.enqueue(d.it)
	d.conn.mu.Unlock()
	if err != nil {
		d.it.fail(e, err)
	}
}

// probeContext is a context for a probe made for client c: it ends with
// the relay, or when c is closed.
func (r *Relay) probeContext(c *Client) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.ctx)
	if c != nil {
		go func() {
			// ties ctx to the client: ends when either ends
			select {
			case <-c.gone:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// awaitCall waits for call to be settled, or for c (nil: the relay) to
// close.
func (r *Relay) awaitCall(call *probeCall, c *Client) probeResult {
	var gone <-chan struct{}
	if c != nil {
		gone = c.gone
	}
	select {
	case <-call.done:
		return call.res
	case <-gone:
	case <-r.ctx.Done():
	}
	return probeResult{}
}

// verifySubscribe probes the client's SUBSCRIBE to dest with shaping
// headers h (nil for a shared topic subscription) unless it needs none,
// and reports whether it was refused: then the client has been told
// (an ERROR for subscription id carrying receipt) and nothing may be
// subscribed. Called without locks.
func (c *Client) verifySubscribe(id, dest string, h stomp.Headers, receipt string) bool {
	r := c.r
	key := subscribeKey(dest, h)
	conn := c.home
	if h == nil {
		conn = r.connFor(dest)
		if conn.hasShared(dest) {
			return false // joining it sends nothing upstream
		}
	}
	var res probeResult
	for {
		refused, trusted, call, mine := r.verdict(key, true)
		switch {
		case refused != "":
			res = probeResult{outcome: probeRefused, reason: refused}
		case trusted:
			return false
		case mine:
			ctx, cancel := r.probeContext(c)
			res = r.probe(ctx, conn.address(), probeSubscribe(dest, h))
			cancel()
			r.settle(key, call, res, nil)
		default:
			if r.awaitCall(call, c).outcome == probeUnknown {
				return false
			}
			continue // look again: accepted or refused now
		}
		break
	}
	if res.outcome != probeRefused {
		return false
	}
	c.sink.Deliver(subErrorFrame(id, MsgSubscribeRefused, refusalDetail(res.reason), receipt))
	return true
}

// sendVerified makes the client's SEND (outside a transaction) on a
// probe when its kind needs one (probe.go), and reports whether it did:
// then err is its fate (nil: the broker receipted it, and the client's
// receipt, if any, is delivered). Otherwise the SEND takes the shared
// path. Called without locks, after AwaitOrder.
func (c *Client) sendVerified(dest string, h stomp.Headers, body []byte) (bool, error) {
	r := c.r
	key := sendKey(dest, h)
	for {
		refused, trusted, call, mine := r.verdict(key, true)
		switch {
		case refused != "":
			return true, &RefusedError{Reason: refused}
		case trusted:
			return false, nil
		case !mine:
			if r.awaitCall(call, c).outcome == probeUnknown {
				return false, nil
			}
			continue
		}
		// ours to probe: the client's earlier frames first
		c.mu.Lock()
		wrote := c.wroteHome
		c.mu.Unlock()
		if wrote && !c.home.up() {
			// the client's earlier frames wait in the outbox: the
			// barrier would take room there, and the SEND waits in it
			// too, in order, unprobed as before probes
			r.settle(key, call, probeResult{}, nil)
			return false, nil
		}
		if wrote && !r.awaitBarrier(c.home, c) {
			r.settle(key, call, probeResult{}, nil)
			return false, nil
		}
		ctx, cancel := r.probeContext(c)
		res := r.probe(ctx, c.home.address(), sendFrame(dest, h, body, nil))
		cancel()
		r.settle(key, call, res, nil)
		switch res.outcome {
		case probeAccepted:
			if fn := clientReceipt(c.sink, h.Value("receipt")); fn != nil {
				fn(nil)
			}
			return true, nil
		case probeRefused:
			return true, &RefusedError{Reason: res.reason}
		}
		return false, nil
	}
}

// publishVerified handles a server publish it of a kind that needs a
// probe (probe.go), on conn, and reports whether it did: the publish
// follows a probe in flight, or leads a new one on a goroutine of its
// own; done runs once its fate is known. It returns the refusal if the
// broker refused the kind lately.
func (r *Relay) publishVerified(dest string, h stomp.Headers, conn *upConn, it *outItem) (bool, error) {
	key := publishKey(dest, h)
	refused, trusted, _, _ := r.verdict(key, false)
	switch {
	case refused != "":
		return true, &RefusedError{Reason: refused}
	case trusted:
		return false, nil
	}
	v := &r.verifier
	v.mu.Lock()
	if v.acceptedLocked(key) {
		v.mu.Unlock()
		return false, nil
	}
	call := v.calls[key]
	if call != nil {
		call.after = append(call.after, deferredSend{conn: conn, it: it})
		v.mu.Unlock()
		return true, nil
	}
	call = &probeCall{done: make(chan struct{})}
	if v.calls == nil {
		v.calls = make(map[string]*probeCall)
	}
	v.calls[key] = call
	v.mu.Unlock()
	go func() {
		// owns the probe of one server publish and settles it
		lead := &deferredSend{conn: conn, it: it}
		if !r.awaitBarrier(conn, nil) {
			r.settle(key, call, probeResult{}, lead)
			return
		}
		res := r.probe(r.ctx, conn.address(), it.frame)
		r.settle(key, call, res, lead)
	}()
	return true, nil
}

// awaitBarrier waits until the broker has processed every frame queued on
// conn so far (a BEGIN/ABORT pair whose RECEIPT comes after them), for
// Relay.orderGrace at most, or until c (nil: the relay) closes. It
// reports whether the barrier was passed.
func (r *Relay) awaitBarrier(conn *upConn, c *Client) bool {
	done := make(chan struct{})
	var once sync.Once
	var passed bool // written before done is closed
	conn.mu.Lock()
	conn.seq++
	tx := "probe-barrier-" + strconv.FormatUint(conn.seq, 10)
	begin := stomp.New(stomp.BEGIN, "transaction", tx)
	abort := stomp.New(stomp.ABORT, "transaction", tx)
	err := conn.enqueue(&outItem{frame: begin, size: frameSize(begin), wantReceipt: true,
		done: func(err error) {
			once.Do(func() {
				passed = err == nil // ErrClosed: given up
				close(done)
			})
		}})
	if err == nil {
		_ = conn.enqueue(&outItem{frame: abort, size: frameSize(abort)})
	}
	conn.mu.Unlock()
	if err != nil {
		return false
	}
	var gone <-chan struct{}
	if c != nil {
		gone = c.gone
	}
	timer := time.NewTimer(r.orderGrace())
	defer timer.Stop()
	select {
	case <-done:
		return passed
	case <-gone:
	case <-r.ctx.Done():
	case <-timer.C:
		r.log.Warn("relay: broker did not answer a barrier before a probe; forwarding unverified")
	}
	return false
}

// hasShared reports whether a shared subscription to dest is in place.
func (c *upConn) hasShared(dest string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shared[dest] != nil
}

// address is the broker address of the connection's current socket
// (or its last), where its probes go.
func (c *upConn) address() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.addr == "" {
		return c.r.cfg.Addresses[c.index%len(c.r.cfg.Addresses)]
	}
	return c.addr
}
