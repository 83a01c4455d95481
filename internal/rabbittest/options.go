package rabbittest

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Options change the node that StartWith and MainWith start. The zero
// value starts the same node as Start and Main.
type Options struct {
	// Config is extra rabbitmq.conf text in the new-style format ("key =
	// value" lines, "#" comments), for example a repository's own
	// rabbitmq.conf. A key set here replaces the harness's line for the
	// same key (loopback_users.guest, say). Lines for keys the harness
	// owns are dropped and listed in Node.DroppedConfig: listeners and
	// ports (the harness picks free loopback ports so nodes never
	// collide), log files, and load_definitions (see Definitions).
	Config string
	// Definitions, when not empty, is a definitions document (JSON, the
	// format of rabbitmqctl export_definitions) the node imports at boot
	// through load_definitions. A node that imports definitions at boot
	// creates neither the guest user nor the "/" vhost, which the
	// readiness probe and the management helpers use, so the harness adds
	// vhost "/" and user guest (password guest, administrator, all
	// permissions on "/") to the document unless it names them itself.
	Definitions []byte
}

// ownedPrefixes are rabbitmq.conf keys (and key prefixes ending in ".")
// that the harness sets itself and Options.Config cannot change.
var ownedPrefixes = []string{
	"listeners.",
	"stomp.listeners.",
	"web_stomp.tcp.",
	"web_stomp.ssl.",
	"web_stomp.port",
	"management.tcp.",
	"management.ssl.",
	"management.listener.",
	"log.file",
	"log.dir",
	"load_definitions",
	"definitions.",
}

// harnessOwns reports whether key is one the harness keeps for itself.
func harnessOwns(key string) bool {
	for _, p := range ownedPrefixes {
		if key == strings.TrimSuffix(p, ".") || strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// confLine is one line of a new-style config file; key is empty for blank
// lines and comments.
type confLine struct {
	key, text string
}

// parseConf splits new-style config text into lines and their keys.
func parseConf(text string) []confLine {
	var out []confLine
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			out = append(out, confLine{text: line})
			continue
		}
		key, _, _ := strings.Cut(trimmed, "=")
		out = append(out, confLine{key: strings.TrimSpace(key), text: line})
	}
	return out
}

// ConfigSettings returns the settings of new-style config text as a map
// from key to value (comments and blank lines skipped; a repeated key
// keeps its last value).
func ConfigSettings(text string) map[string]string {
	out := make(map[string]string)
	for _, l := range parseConf(text) {
		if l.key == "" {
			continue
		}
		_, v, _ := strings.Cut(l.text, "=")
		out[l.key] = strings.TrimSpace(v)
	}
	return out
}

// mergeConfig returns base with the settings of extra applied: lines of
// base whose key extra sets are removed, and extra's lines are appended,
// except lines for keys the harness owns, whose keys are returned.
func mergeConfig(base, extra string) (merged string, dropped []string) {
	if strings.TrimSpace(extra) == "" {
		return base, nil
	}
	set := make(map[string]bool)
	var kept []string
	for _, l := range parseConf(extra) {
		switch {
		case l.key == "":
			kept = append(kept, l.text)
		case harnessOwns(l.key):
			dropped = append(dropped, l.key)
		default:
			set[l.key] = true
			kept = append(kept, l.text)
		}
	}
	var b strings.Builder
	for _, l := range parseConf(base) {
		if l.key != "" && set[l.key] {
			fmt.Fprintf(&b, "# replaced by Options.Config: %s\n", strings.TrimSpace(l.text))
			continue
		}
		b.WriteString(l.text + "\n")
	}
	b.WriteString("# ---- Options.Config ----\n")
	for _, line := range kept {
		b.WriteString(line + "\n")
	}
	return b.String(), dropped
}

// guestDefinitions returns defs with vhost "/", user guest and guest's
// permissions on "/" added where the document lacks them.
func guestDefinitions(defs []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(defs, &doc); err != nil {
		return nil, fmt.Errorf("rabbittest: Options.Definitions: %w", err)
	}
	has := func(list, field, value string) bool {
		items, _ := doc[list].([]any)
		for _, it := range items {
			if m, ok := it.(map[string]any); ok && m[field] == value {
				if list != "permissions" || m["vhost"] == "/" {
					return true
				}
			}
		}
		return false
	}
	add := func(list string, item map[string]any) {
		items, _ := doc[list].([]any)
		doc[list] = append(items, item)
	}
	if !has("vhosts", "name", "/") {
		add("vhosts", map[string]any{"name": "/"})
	}
	if !has("users", "name", "guest") {
		add("users", map[string]any{
			"name":              "guest",
			"password_hash":     PasswordHash("guest"),
			"hashing_algorithm": "rabbit_password_hashing_sha256",
			"tags":              []string{"administrator"},
		})
	}
	if !has("permissions", "user", "guest") {
		add("permissions", map[string]any{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"})
	}
	return json.MarshalIndent(doc, "", "  ")
}

// PasswordHash returns password hashed the way RabbitMQ stores it with
// rabbit_password_hashing_sha256 (the default): base64 of a random 4-byte
// salt followed by SHA-256(salt + password). It is what a definitions
// file's password_hash holds.
func PasswordHash(password string) string {
	salt := make([]byte, 4)
	_, _ = rand.Read(salt)
	sum := sha256.Sum256(append(append([]byte{}, salt...), password...))
	return base64.StdEncoding.EncodeToString(append(salt, sum[:]...))
}

// CheckPasswordHash reports whether hash (base64, as in a definitions
// file's password_hash with rabbit_password_hashing_sha256) is password's.
func CheckPasswordHash(hash, password string) bool {
	raw, err := base64.StdEncoding.DecodeString(hash)
	if err != nil || len(raw) != 4+sha256.Size {
		return false
	}
	sum := sha256.Sum256(append(append([]byte{}, raw[:4]...), password...))
	return string(sum[:]) == string(raw[4:])
}

// writeOptionFiles applies n.opts on top of the files writeFiles wrote:
// the merged rabbitmq.conf and, with Definitions, definitions.json.
func (n *Node) writeOptionFiles() error {
	conf, dropped := mergeConfig(n.configText(), n.opts.Config)
	n.DroppedConfig = dropped
	if len(n.opts.Definitions) > 0 {
		defs, err := guestDefinitions(n.opts.Definitions)
		if err != nil {
			return err
		}
		if err := os.WriteFile(n.path("definitions.json"), defs, 0o644); err != nil {
			return err
		}
		conf += "load_definitions = " + n.path("definitions.json") + "\n"
	}
	return os.WriteFile(n.path("rabbitmq.conf"), []byte(conf), 0o644)
}

// MainWith is Main for a node started with options (see StartWith).
func MainWith(m *testing.M, node **Node, opts Options) int {
	return runMain(m, node, opts)
}
