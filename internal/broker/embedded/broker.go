package embedded

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/go-stomp/stomp/v3/frame"
	"github.com/go-stomp/stomp/v3/server"
	"github.com/go-stomp/stomp/v3/server/client"
)

// isQueue reports whether dest is a queue (go-stomp's rule: the
// "/queue" prefix); everything else is a topic.
func isQueue(dest string) bool { return strings.HasPrefix(dest, server.QueuePrefix) }

// queue is a /queue destination: frames no subscriber was ready for, in
// order, and the subscriptions ready for one, round robin.
type queue struct {
	frames []*frame.Frame
	ready  []*outlet
}

// router is the broker loop's state: go-stomp's request processor,
// rewritten so that it never blocks on a connection (see outlet). Only
// the loop goroutine touches it.
type router struct {
	reqs    chan client.Request // unbuffered: a request is handled when its send returns
	flow    *flow
	outlets map[*client.Subscription]*outlet
	topics  map[string][]*outlet
	queues  map[string]*queue
	live    atomic.Int64 // connections accepted and not yet disconnected
}

func newRouter(f *flow) *router {
	return &router{
		reqs:    make(chan client.Request),
		flow:    f,
		outlets: make(map[*client.Subscription]*outlet),
		topics:  make(map[string][]*outlet),
		queues:  make(map[string]*queue),
	}
}

// loop handles requests until the accept loop has ended (acceptDone) and
// every connection it started has said it disconnected.
func (r *router) loop(acceptDone <-chan struct{}) {
	ending := false
	for {
		select {
		case req := <-r.reqs:
			r.handle(req)
			if req.Op == client.DisconnectedOp {
				r.live.Add(-1)
			}
		case <-acceptDone:
			acceptDone, ending = nil, true
		}
		if ending && r.live.Load() == 0 {
			return
		}
	}
}

// handle carries out one request from a connection's frame loop.
func (r *router) handle(req client.Request) {
	switch req.Op {
	case client.SubscribeOp:
		r.subscribe(req.Sub)
	case client.UnsubscribeOp:
		r.unsubscribe(req.Sub)
	case client.EnqueueOp:
		dest, ok := req.Frame.Header.Contains(frame.Destination)
		if !ok {
			return // go-stomp's validator requires it
		}
		if isQueue(dest) {
			r.queue(dest).put(req.Frame, false)
			return
		}
		subs := r.topics[dest]
		for i, o := range subs {
			f := req.Frame
			if i < len(subs)-1 {
				f = f.Clone()
			}
			o.push(f)
		}
	case client.RequeueOp:
		if dest, ok := req.Frame.Header.Contains(frame.Destination); ok && isQueue(dest) {
			r.queue(dest).put(req.Frame, true)
		}
	}
}

// subscribe handles SubscribeOp: a new subscription, or (queues) one that
// is ready for its next frame.
func (r *router) subscribe(sub *client.Subscription) {
	o := r.outlets[sub]
	if o == nil {
		o = newOutlet(sub, r.flow)
		r.outlets[sub] = o
		if !o.queue {
			r.topics[o.dest] = append(r.topics[o.dest], o)
		}
	}
	if !o.queue {
		return
	}
	q := r.queue(o.dest)
	if len(q.frames) > 0 {
		f := q.frames[0]
		q.frames[0] = nil
		q.frames = q.frames[1:]
		o.push(f)
		return
	}
	if !slices.Contains(q.ready, o) {
		q.ready = append(q.ready, o)
	}
}

// unsubscribe handles UnsubscribeOp: the subscription gets nothing more,
// and a queue's frame still waiting for it goes back to the queue.
func (r *router) unsubscribe(sub *client.Subscription) {
	o := r.outlets[sub]
	if o == nil {
		return
	}
	delete(r.outlets, sub)
	left := o.close()
	if !o.queue {
		subs := slices.DeleteFunc(r.topics[o.dest], func(x *outlet) bool { return x == o })
		if len(subs) == 0 {
			delete(r.topics, o.dest)
		} else {
			r.topics[o.dest] = subs
		}
		return
	}
	q := r.queue(o.dest)
	q.ready = slices.DeleteFunc(q.ready, func(x *outlet) bool { return x == o })
	for i := len(left) - 1; i >= 0; i-- {
		q.put(left[i], true)
	}
}

// queue returns the queue named dest, making it if needed.
func (r *router) queue(dest string) *queue {
	q := r.queues[dest]
	if q == nil {
		q = &queue{}
		r.queues[dest] = q
	}
	return q
}

// put hands f to the first ready subscription, or keeps it: at the back,
// or at the front when front (a requeued frame).
func (q *queue) put(f *frame.Frame, front bool) {
	if len(q.ready) > 0 {
		o := q.ready[0]
		q.ready = q.ready[1:]
		o.push(f)
		return
	}
	if front {
		q.frames = slices.Insert(q.frames, 0, f)
	} else {
		q.frames = append(q.frames, f)
	}
}
