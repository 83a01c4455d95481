package destination

import (
	"strconv"
	"strings"

	"chatrelay/internal/stomp"
)

// RabbitMQ turns some STOMP headers into AMQP properties and parses their
// values; a value it cannot parse makes it send ERROR and close the
// connection, which the relay shares with every other client. Such values
// are refused here, before anything leaves the replica.

// maxShortString is the AMQP short-string limit for property values and
// header names.
const maxShortString = 255

// numericHeaders bound the integer values RabbitMQ parses.
var numericHeaders = map[string]struct{ min, max int64 }{
	"priority":                        {0, 255},
	"timestamp":                       {0, 1<<63 - 1},
	"expiration":                      {0, 1<<32 - 1},
	"prefetch-count":                  {1, 65535},
	"x-message-ttl":                   {0, 1<<32 - 1},
	"x-expires":                       {1, 1<<32 - 1},
	"x-max-length":                    {0, 1<<63 - 1},
	"x-max-length-bytes":              {0, 1<<63 - 1},
	"x-max-priority":                  {0, 255},
	"x-max-age-seconds":               {0, 1<<32 - 1},
	"x-stream-max-segment-size-bytes": {1, 1<<31 - 1},
	HistoryHeader:                     {0, 1<<31 - 1},
	ResumeHeader:                      {0, 1<<62 - 1},
}

// shortStringHeaders become AMQP short-string properties.
var shortStringHeaders = map[string]bool{
	"content-type":     true,
	"content-encoding": true,
	"correlation-id":   true,
	"amqp-message-id":  true,
	"type":             true,
	"app-id":           true,
	"reply-to":         true,
	"user-id":          true,
	"expiration":       true,
}

// booleanValues are the spellings RabbitMQ 3.x's STOMP plugin reads as a
// boolean (rabbit_stomp_frame:boolean_header and
// rabbit_stomp_util:string_to_boolean): "true" and "false", and the
// capitalised forms Python clients such as stomp.py write. Nothing else:
// on SUBSCRIBE "TRUE" or "yes" reaches its queue declaration as no
// boolean at all, on SEND persistent:yes silently means not persistent.
// The value is forwarded as the client wrote it: RabbitMQ reads each
// spelling here as the client means it.
var booleanValues = map[string]bool{"true": true, "True": true, "false": true, "False": true}

// checkValue refuses a header value RabbitMQ would choke on.
func checkValue(dest, key, value string) *Rejection {
	k := strings.ToLower(key)
	if len(key) > maxShortString {
		return reject(dest, RuleHeaderPrefix+"name", "header names are limited to %d bytes", maxShortString)
	}
	if shortStringHeaders[k] && len(value) > maxShortString {
		return reject(dest, RuleHeaderPrefix+k, "%s is limited to %d bytes", k, maxShortString)
	}
	if r, ok := numericHeaders[k]; ok {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < r.min || n > r.max {
			return reject(dest, RuleHeaderPrefix+k, "%s must be an integer from %d to %d, not %q", k, r.min, r.max, value)
		}
	}
	switch k {
	case "persistent", "durable", "auto-delete", "exclusive":
		if !booleanValues[value] {
			return reject(dest, RuleHeaderPrefix+k, "%s must be true or false (True and False are accepted too), not %q", k, value)
		}
	case "x-queue-name":
		// the queue a topic subscription declares (and an UNSUBSCRIBE
		// with durable:true deletes): never one of the broker's or the
		// server's, a room stream or a durable subscription's queue among
		// them
		if rej := checkQueueName(dest, value); rej != nil {
			return rej
		}
		if value == "" {
			return reject(dest, RuleHeaderPrefix+k, "x-queue-name must not be empty")
		}
	case "x-stream-offset":
		if !stomp.ValidStreamOffset(value) {
			return reject(dest, RuleHeaderPrefix+k, "x-stream-offset must be first, last, next, offset=N or timestamp=N, not %q", value)
		}
	}
	return nil
}
