package destination

// Alias rewrites a client destination before any other rule applies.
// From and To are patterns: literal text, "{name}" variables and an
// optional trailing "/**". Variables captured by From are substituted into
// To; the rest of the path matched by From's "/**" replaces To's "/**".
type Alias struct {
	From string
	To   string
}

// Config is the destination policy's configuration. A nil slice means
// "use the default"; an empty non-nil slice means "none".
type Config struct {
	// Aliases are tried in order; the first match wins and is applied once,
	// before anything else.
	Aliases []Alias
	// ClientSend lists patterns of canonical destinations clients may SEND
	// to. Default: ["/app/**"].
	ClientSend []string
	// ClientSubscribe lists patterns of canonical destinations clients may
	// SUBSCRIBE to. Default: ["/topic/**", "/user/queue/**", "/app/**"].
	// In both lists a queue (/queue/NAME, /amq/queue/NAME,
	// /exchange/amq.default/NAME) must be named literally.
	ClientSubscribe []string
	// AllowHeaders names headers clients may pass that are otherwise
	// refused, e.g. "x-stream-offset" or "prefetch-count".
	AllowHeaders []string
	// AllowWildcards lets SUBSCRIBE use the AMQP wildcards "*" and "#" as
	// whole words of a topic name.
	AllowWildcards bool
}

// DefaultAliases returns the aliases that let the clients of the Spring
// tutorials work unchanged: specific forms first, generic prefixes last.
func DefaultAliases() []Alias {
	return []Alias{
		{From: "/pub/chat/message", To: "/app/chat.send"},
		{From: "/app/message", To: "/app/chat.send"},
		{From: "/sub/chat/room/{id}", To: "/topic/room.{id}"},
		{From: "/queue/chat-rooms/{id}", To: "/topic/room.{id}"},
		{From: "/sub/**", To: "/topic/**"},
		{From: "/pub/**", To: "/app/**"},
	}
}

// DefaultClientSend returns the default ClientSend patterns.
func DefaultClientSend() []string { return []string{"/app/**"} }

// DefaultClientSubscribe returns the default ClientSubscribe patterns.
func DefaultClientSubscribe() []string {
	return []string{"/topic/**", "/user/queue/**", "/app/**"}
}

// DefaultConfig returns the default configuration with fresh slices.
func DefaultConfig() Config {
	return Config{
		Aliases:         DefaultAliases(),
		ClientSend:      DefaultClientSend(),
		ClientSubscribe: DefaultClientSubscribe(),
	}
}

// withDefaults fills nil slices with their defaults.
func (c Config) withDefaults() Config {
	if c.Aliases == nil {
		c.Aliases = DefaultAliases()
	}
	if c.ClientSend == nil {
		c.ClientSend = DefaultClientSend()
	}
	if c.ClientSubscribe == nil {
		c.ClientSubscribe = DefaultClientSubscribe()
	}
	return c
}
