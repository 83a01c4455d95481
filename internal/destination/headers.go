package destination

import (
	"strings"

	"chatrelay/internal/stomp"
)

// refusedHeaders are headers that shape queues or impersonate someone; a
// client frame carrying one is refused unless AllowHeaders names it.
var refusedHeaders = map[string]bool{
	"selector":                 true,
	"x-queue-name":             true,
	"x-queue-type":             true,
	"x-queue-mode":             true,
	"x-queue-master-locator":   true,
	"x-queue-leader-locator":   true,
	"x-single-active-consumer": true,
	"x-overflow":               true,
	"x-initial-cluster-size":   true,
	"x-delivery-limit":         true,
	"durable":                  true,
	"auto-delete":              true,
	"exclusive":                true,
	"x-message-ttl":            true,
	"x-expires":                true,
	"prefetch-count":           true,
	"persistent":               true,
	"reply-to":                 true,
	"user-id":                  true,
}

// refusedHeaderPrefixes are families of refused headers.
var refusedHeaderPrefixes = []string{"x-max-", "x-dead-letter-", "x-stream-"}

// serverOwnedHeaders are set by the server or the broker, never by a
// client: they are stripped from SEND frames.
var serverOwnedHeaders = map[string]bool{
	"message-id":   true,
	"subscription": true,
	"ack":          true,
	"redelivered":  true,
	"login":        true,
	"passcode":     true,
	"host":         true,
	"user-name":    true,
	"session":      true,
}

// keptSubscribeHeaders are the SUBSCRIBE headers forwarded besides the
// destination and AllowHeaders.
var keptSubscribeHeaders = map[string]bool{"id": true, "ack": true, "receipt": true, HistoryHeader: true, ResumeHeader: true}

// Room history headers a SUBSCRIBE may carry; the server acts on them and
// never forwards them to the broker.
const (
	// HistoryHeader asks for the last N messages of a room before live ones.
	HistoryHeader = "x-history"
	// ResumeHeader asks for every message after an offset, then live ones.
	ResumeHeader = "x-resume-after"
)

// ackModes are the valid values of a SUBSCRIBE's ack header.
var ackModes = map[string]bool{"auto": true, "client": true, "client-individual": true}

// refused reports whether a header named key (any case) is one clients
// may not send unless a Config's AllowHeaders names it.
func refused(key string) bool {
	k := strings.ToLower(key)
	if refusedHeaders[k] {
		return true
	}
	for _, p := range refusedHeaderPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// checkRefused returns a rejection when key is refused and not allowed.
func (p *Policy) checkRefused(dest, key string) *Rejection {
	k := strings.ToLower(key)
	if refused(k) && !p.allowHeaders[k] {
		return reject(dest, RuleHeaderPrefix+k, "header %q is not allowed from clients", k)
	}
	return nil
}

// checkHeader refuses a header clients may not send, or a value the
// broker would choke on.
func (p *Policy) checkHeader(dest string, h stomp.Header) *Rejection {
	if rej := p.checkRefused(dest, h.Key); rej != nil {
		return rej
	}
	return checkValue(dest, h.Key, h.Value)
}

// subscribeHeaders keeps id, ack, receipt and allowed headers (first
// occurrence of each), rewrites destination and strips the rest.
func (p *Policy) subscribeHeaders(t Target, in stomp.Headers) (stomp.Headers, *Rejection) {
	seen := make(map[string]bool, len(in))
	return p.rewriteHeaders(t, in, 4, func(h stomp.Header, k string) (bool, *Rejection) {
		switch {
		case h.Key == "ack":
			if !ackModes[h.Value] {
				return false, reject(t.Original, RuleHeaderPrefix+"ack", "ack must be auto, client or client-individual, not %q", h.Value)
			}
		case keptSubscribeHeaders[h.Key], p.allowHeaders[k]:
		default:
			return false, nil
		}
		if seen[h.Key] {
			return false, nil
		}
		seen[h.Key] = true
		return true, nil
	})
}

// sendHeaders strips server-owned headers, rewrites destination and keeps
// every other header (content-type, content-length, receipt, transaction
// and application headers).
func (p *Policy) sendHeaders(t Target, in stomp.Headers) (stomp.Headers, *Rejection) {
	return p.rewriteHeaders(t, in, len(in)+1, func(h stomp.Header, k string) (bool, *Rejection) {
		return !serverOwnedHeaders[k] && h.Key != "", nil
	})
}

// rewriteHeaders is what SEND and SUBSCRIBE share: it checks every header
// of in (checkHeader), puts t.Destination in the place of the first
// destination header (or last, when there is none) and drops the other
// destination headers. keep decides on each remaining header, given with
// its lower-case key: to forward it, drop it, or refuse the frame. size is
// the expected number of headers out.
func (p *Policy) rewriteHeaders(t Target, in stomp.Headers, size int, keep func(h stomp.Header, k string) (bool, *Rejection)) (stomp.Headers, *Rejection) {
	out := make(stomp.Headers, 0, size)
	wroteDest := false
	for _, h := range in {
		if rej := p.checkHeader(t.Original, h); rej != nil {
			return nil, rej
		}
		k := strings.ToLower(h.Key)
		if k == "destination" {
			if !wroteDest {
				out = append(out, stomp.Header{Key: "destination", Value: t.Destination})
				wroteDest = true
			}
			continue
		}
		ok, rej := keep(h, k)
		if rej != nil {
			return nil, rej
		}
		if ok {
			out = append(out, h)
		}
	}
	if !wroteDest {
		out = append(out, stomp.Header{Key: "destination", Value: t.Destination})
	}
	return out, nil
}
