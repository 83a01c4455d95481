// Package destination is the destination policy: it decides what a client
// frame's destination means (aliases, canonical names) and whether the
// frame may pass (allowlists, reserved names, header rules). It is pure:
// no I/O, no state beyond its compiled configuration.
package destination

import (
	"fmt"
	"strings"

	"chatrelay/internal/stomp"
)

// Policy is a compiled Config. It is safe for concurrent use.
type Policy struct {
	aliases        []alias
	reverse        []*alias // reverse[i] writes aliases[i]'s To back; nil: none
	send           []*pattern
	subscribe      []*pattern
	allowHeaders   map[string]bool
	allowWildcards bool
}

// op is the client command being checked.
type op int

const (
	opSend op = iota
	opSubscribe
)

// New validates cfg and compiles it. Nil slices in cfg take their defaults.
func New(cfg Config) (*Policy, error) {
	cfg = cfg.withDefaults()
	p := &Policy{allowHeaders: make(map[string]bool), allowWildcards: cfg.AllowWildcards}
	for i, a := range cfg.Aliases {
		ca, err := compileAlias(a)
		if err != nil {
			return nil, fmt.Errorf("destination: Aliases[%d]: %w", i, err)
		}
		p.aliases = append(p.aliases, ca)
		p.reverse = append(p.reverse, reverseAlias(a))
	}
	var err error
	if p.send, err = compileList("ClientSend", cfg.ClientSend); err != nil {
		return nil, err
	}
	if p.subscribe, err = compileList("ClientSubscribe", cfg.ClientSubscribe); err != nil {
		return nil, err
	}
	if err := p.checkLiterals("ClientSend", p.send, opSend); err != nil {
		return nil, err
	}
	if err := p.checkLiterals("ClientSubscribe", p.subscribe, opSubscribe); err != nil {
		return nil, err
	}
	for i, h := range cfg.AllowHeaders {
		if h == "" {
			return nil, fmt.Errorf("destination: AllowHeaders[%d] is empty", i)
		}
		p.allowHeaders[strings.ToLower(h)] = true
	}
	return p, nil
}

// compileList compiles one allowlist.
func compileList(field string, srcs []string) ([]*pattern, error) {
	out := make([]*pattern, 0, len(srcs))
	for i, s := range srcs {
		pt, err := compilePattern(s)
		if err == nil && wildQueuePattern(pt) {
			err = errWildQueue(s)
		}
		if err != nil {
			return nil, fmt.Errorf("destination: %s[%d]: %w", field, i, err)
		}
		out = append(out, pt)
	}
	return out, nil
}

// checkLiterals refuses an allowlist that names a reserved destination
// literally ("/queue/stomp-subscription-x", "/topic/rooms" for SEND):
// the runtime checks would refuse every frame to it anyway, so such an
// entry is a mistake the operator should hear about at start.
func (p *Policy) checkLiterals(field string, list []*pattern, o op) error {
	for i, pt := range list {
		if !pt.Literal() {
			continue
		}
		_, rej := p.classify(pt.Source(), pt.Source(), o, list)
		if rej != nil && (rej.Rule == RuleReserved || rej.Rule == RuleRoom) {
			return fmt.Errorf("destination: %s[%d]: %q is reserved: %s", field, i, pt.Source(), rej.Reason)
		}
	}
	return nil
}

// Subscribe checks a client SUBSCRIBE to dest with headers h. It returns
// the target and the headers to forward (destination rewritten, everything
// else not explicitly kept stripped). Refusals are *Rejection errors.
func (p *Policy) Subscribe(dest string, h stomp.Headers) (Target, stomp.Headers, error) {
	t, rej := p.resolve(dest, opSubscribe)
	if rej != nil {
		return Target{}, nil, rej
	}
	out, rej := p.subscribeHeaders(t, h)
	if rej != nil {
		return Target{}, nil, rej
	}
	return t, out, nil
}

// Send checks a client SEND to dest with headers h. It returns the target
// and the headers to forward (destination rewritten, server-owned headers
// stripped). Refusals are *Rejection errors.
func (p *Policy) Send(dest string, h stomp.Headers) (Target, stomp.Headers, error) {
	t, rej := p.resolve(dest, opSend)
	if rej != nil {
		return Target{}, nil, rej
	}
	out, rej := p.sendHeaders(t, h)
	if rej != nil {
		return Target{}, nil, rej
	}
	return t, out, nil
}

// resolve applies aliases, normalises the destination, checks its name and
// the allowlist for the operation.
func (p *Policy) resolve(dest string, o op) (Target, *Rejection) {
	list, rule := p.send, RuleClientSend
	if o == opSubscribe {
		list, rule = p.subscribe, RuleClientSubscribe
	}
	canon := dest
	for _, a := range p.aliases {
		if d, ok := a.apply(dest); ok {
			canon = d
			break
		}
	}
	t, rej := p.classify(dest, canon, o, list)
	if rej != nil {
		return Target{}, rej
	}
	if isQueue(t.Destination) {
		// a queue outlives the session: only the operator's own list of
		// names may make the broker keep one
		if !matchLiteral(list, t.Destination) {
			return Target{}, reject(dest, rule, "%s is a queue, and clients may reach only queues %s names literally", t.Destination, rule)
		}
		return t, nil
	}
	if !matchAny(list, t.Destination) {
		return Target{}, reject(dest, rule, "%s is not allowed for clients", t.Destination)
	}
	return t, nil
}

// classify turns an aliased destination into a canonical Target.
func (p *Policy) classify(dest, canon string, o op, list []*pattern) (Target, *Rejection) {
	t := Target{Original: dest}
	wild := p.allowWildcards && o == opSubscribe
	switch {
	case canon == "/app" || strings.HasPrefix(canon, prefixApp):
		if rej := checkAppPath(dest, strings.TrimPrefix(canon[len("/app"):], "/")); rej != nil {
			return t, rej
		}
		t.Kind, t.Destination = App, canon
	case canon == "/topic" || strings.HasPrefix(canon, prefixTopic):
		name, rej := dotted(dest, strings.TrimPrefix(canon[len("/topic"):], "/"))
		if rej == nil {
			rej = checkName(dest, name, "topic", wild)
		}
		if rej == nil {
			rej = checkTopicReserved(dest, name)
		}
		if rej == nil {
			rej = checkRoomTopic(dest, name, o)
		}
		if rej == nil {
			rej = checkServerTopic(dest, name, o)
		}
		if rej != nil {
			return t, rej
		}
		t.Kind, t.Destination = Broker, prefixTopic+name
	case canon == "/queue" || strings.HasPrefix(canon, prefixQueue):
		name, rej := dotted(dest, strings.TrimPrefix(canon[len("/queue"):], "/"))
		if rej == nil {
			rej = checkName(dest, name, "queue", false)
		}
		if rej == nil {
			rej = checkQueueName(dest, name)
		}
		if rej != nil {
			return t, rej
		}
		t.Kind, t.Destination = Broker, prefixQueue+name
	case strings.HasPrefix(canon, prefixUserQueue):
		name, rej := dotted(dest, canon[len(prefixUserQueue):])
		if rej == nil {
			rej = checkName(dest, name, "user queue", false)
		}
		if rej != nil {
			return t, rej
		}
		t.Kind, t.Destination, t.Queue = User, prefixUserQueue+name, name
	case canon == "/user" || strings.HasPrefix(canon, prefixUser):
		return t, reject(dest, RuleReserved, "only /user/queue/NAME, the current user's own queue, is allowed")
	default:
		return p.classifySpecial(dest, canon, o, list)
	}
	return t, nil
}

// classifySpecial handles RabbitMQ's special prefixes, which pass only
// where the operation's allowlist names the prefix explicitly.
func (p *Policy) classifySpecial(dest, canon string, o op, list []*pattern) (Target, *Rejection) {
	t := Target{Original: dest}
	wild := p.allowWildcards && o == opSubscribe
	for _, sp := range specialPrefixes {
		if !strings.HasPrefix(canon, sp.prefix) {
			continue
		}
		if !explicit(list, sp.prefix) {
			return t, reject(dest, RuleSpecialPrefix, "%s destinations are not enabled for clients", sp.prefix)
		}
		names := strings.Split(canon[len(sp.prefix):], "/")
		if len(names) < sp.min || len(names) > sp.max {
			return t, reject(dest, RuleInvalidName, "%s takes %d to %d names", sp.prefix, sp.min, sp.max)
		}
		for i, n := range names {
			// Only an exchange's routing key (the second name) may be a
			// wildcard binding pattern.
			if rej := checkName(dest, n, "destination", wild && i == 1); rej != nil {
				return t, rej
			}
		}
		if sp.prefix == "/amq/queue/" {
			if rej := checkQueueName(dest, names[0]); rej != nil {
				return t, rej
			}
		}
		if sp.prefix == "/exchange/" {
			if rej := checkExchange(dest, names, o, list); rej != nil {
				return t, rej
			}
		}
		t.Kind, t.Destination = Broker, canon
		return t, nil
	}
	return t, reject(dest, RuleUnknownPrefix, "destinations must start with /app/, /topic/, /queue/ or /user/queue/")
}

// checkExchange guards /exchange/NAME[/KEY]: the default exchange's keys
// are queue names, amq.topic keys obey the reserved topic names, and the
// broker's own amq.rabbitmq.* exchanges (the firehose among them) need a
// pattern naming them.
func checkExchange(dest string, names []string, o op, list []*pattern) *Rejection {
	ex := names[0]
	if strings.HasPrefix(ex, "amq.rabbitmq.") && !explicit(list, "/exchange/"+ex) {
		return reject(dest, RuleReserved, "exchange %q is internal to the broker", ex)
	}
	if ex == "amq.default" {
		if o == opSubscribe {
			// RabbitMQ refuses to bind a queue to the default exchange
			// and closes the connection
			return reject(dest, RuleReserved, "the default exchange cannot be subscribed to: subscribe to the queue itself")
		}
		if len(names) < 2 {
			return reject(dest, RuleInvalidName, "a SEND to the default exchange needs a queue name as its routing key")
		}
		return checkQueueName(dest, names[1])
	}
	if ex == "amq.topic" && len(names) == 2 {
		if rej := checkTopicReserved(dest, names[1]); rej != nil {
			return rej
		}
		if first, _, _ := strings.Cut(names[1], "."); first == roomWord {
			return reject(dest, RuleRoom, "rooms are reached as /topic/room.<id>, where their access list is checked")
		}
		if rej := checkServerTopic(dest, names[1], o); rej != nil {
			return rej
		}
	}
	return nil
}
