package rabbittest

import (
	"os"
	"strings"
)

// WriteCtlScript writes an executable shell script to path that runs
// rabbitmqctl against the node with the node's environment (its cookie
// and name), as Ctl does, passing on its arguments: another process
// (chatbench -broker-ctl) can then read the node's status.
func (n *Node) WriteCtlScript(path string) error {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# rabbitmqctl for the private node " + n.Name + " (written by rabbittest)\n")
	for _, kv := range n.environ() {
		k, v, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "LANG" || k == "LC_ALL" || strings.HasPrefix(k, "RABBITMQ_") || strings.HasPrefix(k, "ERL_") {
			b.WriteString("export " + k + "=" + shellQuote(v) + "\n")
		}
	}
	b.WriteString("exec " + shellQuote(n.bin("rabbitmqctl")) + " -n " + shellQuote(n.Name) + ` "$@"` + "\n")
	return os.WriteFile(path, []byte(b.String()), 0o755)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
