package destination

import (
	"fmt"
	"strings"
)

// UserTopic returns the broker destination that carries user's
// /user/queue/<queue> on every replica. The user name is encoded so that
// it is one routing-key word of safe characters: no dot, slash or
// wildcard can make it reach another user's messages. Clients cannot
// name it themselves: the policy reserves /topic/user.**.
func UserTopic(user, queue string) string {
	return "/topic/user." + encodeWord(user) + "." + queue
}

// encodeWord keeps letters, digits, '-' and '_' and writes every other
// byte as ~XX.
func encodeWord(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "~%02X", c)
		}
	}
	return b.String()
}
