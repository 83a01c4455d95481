package destination

import "strings"

// maxNameLen is the longest name RabbitMQ accepts (an AMQP short string).
const maxNameLen = 255

// Destination prefixes.
const (
	prefixApp       = "/app/"
	prefixTopic     = "/topic/"
	prefixQueue     = "/queue/"
	prefixUser      = "/user/"
	prefixUserQueue = "/user/queue/"
)

// specialPrefixes are RabbitMQ destinations clients may only use where a
// pattern names the prefix explicitly; segments is how many "/"-separated
// names follow the prefix (minimum, maximum).
var specialPrefixes = []struct {
	prefix   string
	min, max int
}{
	{"/exchange/", 1, 2},
	{"/amq/queue/", 1, 1},
	{"/temp-queue/", 1, 1},
	{"/reply-queue/", 1, 1},
}

// nameByte reports whether c may appear in a topic or queue name.
func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("._~:@-", c) >= 0
}

// appByte reports whether c may appear in an /app path.
func appByte(c byte) bool {
	return nameByte(c) || c == '{' || c == '}' || c == '/'
}

// isWildcard reports whether c is an AMQP topic wildcard.
func isWildcard(c byte) bool { return c == '*' || c == '#' }

// dotted turns the path after /topic/ or /queue/ into a name: every "/"
// becomes ".". Empty path segments are refused.
func dotted(dest, path string) (string, *Rejection) {
	if path == "" {
		return "", reject(dest, RuleInvalidName, "empty name")
	}
	if strings.Contains(path, "//") || strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") {
		return "", reject(dest, RuleInvalidName, "empty path segment")
	}
	return strings.ReplaceAll(path, "/", "."), nil
}

// checkName validates a topic, queue or special-prefix name. Wildcards are
// accepted only when wild is true, and then only as whole dot-separated
// words.
func checkName(dest, name, what string, wild bool) *Rejection {
	if name == "" {
		return reject(dest, RuleInvalidName, "empty %s name", what)
	}
	if len(name) > maxNameLen {
		return reject(dest, RuleInvalidName, "%s name longer than %d bytes", what, maxNameLen)
	}
	hasWild := false
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case nameByte(c):
		case isWildcard(c):
			hasWild = true
		default:
			return reject(dest, RuleInvalidName, "character %q is not allowed in a %s name", c, what)
		}
	}
	if !hasWild {
		return nil
	}
	if !wild {
		return reject(dest, RuleNoWildcards, "wildcards * and # are not allowed in a %s name", what)
	}
	for _, w := range strings.Split(name, ".") {
		if strings.ContainsAny(w, "*#") && len(w) != 1 {
			return reject(dest, RuleInvalidName, "wildcard must be a whole word, not %q", w)
		}
	}
	return nil
}

// checkAppPath validates the path after /app/.
func checkAppPath(dest, path string) *Rejection {
	switch {
	case path == "":
		return reject(dest, RuleInvalidName, "empty /app path")
	case len(path) > maxNameLen:
		return reject(dest, RuleInvalidName, "/app path longer than %d bytes", maxNameLen)
	case strings.Contains(path, ".."):
		return reject(dest, RuleInvalidName, "/app path contains ..")
	case strings.Contains(path, "//") || strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/"):
		return reject(dest, RuleInvalidName, "empty path segment")
	}
	for i := 0; i < len(path); i++ {
		if !appByte(path[i]) {
			return reject(dest, RuleInvalidName, "character %q is not allowed in an /app path", path[i])
		}
	}
	return nil
}
