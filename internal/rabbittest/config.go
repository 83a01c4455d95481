package rabbittest

import (
	"context"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// BinDirEnv names an environment variable that, when set, is the directory
// holding the real rabbitmq-server and rabbitmqctl scripts. Without it the
// harness looks for rabbitmq-server in PATH and /usr/sbin.
const BinDirEnv = "CHATRELAY_RABBITMQ_BIN_DIR"

// plugins are enabled per node through RABBITMQ_ENABLED_PLUGINS_FILE; they
// ship inside the rabbitmq-server package, nothing is enabled system-wide.
var plugins = []string{"rabbitmq_management", "rabbitmq_stomp", "rabbitmq_web_stomp"}

// FindServer returns the directory that holds the rabbitmq-server and
// rabbitmqctl scripts to run directly, or an error saying why RabbitMQ is
// not usable here.
//
// Debian's /usr/sbin/rabbitmq-server is a symlink to a wrapper that, for
// root, re-executes the script as user rabbitmq through su, which resets
// HOME (so the node and rabbitmqctl would disagree about the Erlang cookie)
// and cds to /var/lib/rabbitmq. The real scripts live next to the wrapper
// (/usr/lib/rabbitmq/bin), so the symlink is resolved and that directory is
// used.
func FindServer() (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		return checkBinDir(dir)
	}
	var candidates []string
	if p, err := exec.LookPath("rabbitmq-server"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/sbin/rabbitmq-server", "/usr/lib/rabbitmq/bin/rabbitmq-server")
	var errs []error
	for _, c := range candidates {
		real, err := filepath.EvalSymlinks(c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		dir, err := checkBinDir(filepath.Dir(real))
		if err == nil {
			return dir, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("rabbitmq-server not found in PATH or /usr/sbin (install the Debian package rabbitmq-server or set %s): %w",
		BinDirEnv, errors.Join(errs...))
}

// checkBinDir verifies that dir holds runnable rabbitmq-server and
// rabbitmqctl scripts that are not the su-wrapper.
func checkBinDir(dir string) (string, error) {
	for _, name := range []string{"rabbitmq-server", "rabbitmqctl"} {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		if st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s is not executable", p)
		}
	}
	if real, err := filepath.EvalSymlinks(filepath.Join(dir, "rabbitmq-server")); err == nil &&
		filepath.Base(real) == "rabbitmq-script-wrapper" {
		return checkBinDir(filepath.Dir(real))
	}
	return dir, nil
}

// Ports for nodes are picked below the kernel's ephemeral range
// (ip_local_port_range, 32768-60999 by default), where no outgoing
// connection takes a port between the pick and the node's bind, and only
// when nothing holds them, TIME_WAIT included: Go listens with
// SO_REUSEADDR and would accept a port in TIME_WAIT that Erlang, binding
// without it, finds taken (dist_port_already_used under a test load that
// makes thousands of short connections).
const (
	portMin = 20000
	portMax = 32000
)

// freePorts returns n distinct ports that nothing on the machine holds
// now (see portMin). Another process may still take one before the node
// binds it: starts retry on fresh ports then (portTaken).
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, fmt.Errorf("rabbittest: no free port in %d-%d after %d tries", portMin, portMax, tries)
		}
		p := portMin + mathrand.IntN(portMax-portMin)
		if slices.Contains(ports, p) || !bindable(p) {
			continue
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// bindable reports whether port p can be bound on every IPv4 address
// without SO_REUSEADDR, as Erlang binds.
func bindable(p int) bool {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0)
		})
		return errors.Join(err, serr)
	}}
	l, err := lc.Listen(context.Background(), "tcp4", fmt.Sprintf("0.0.0.0:%d", p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// configText is the node's new-style rabbitmq.conf (cuttlefish format).
func (n *Node) configText() string {
	return fmt.Sprintf(`# Written by chatrelay/internal/rabbittest for a private test node.
listeners.tcp.default = 127.0.0.1:%d
stomp.listeners.tcp.1 = 127.0.0.1:%d
web_stomp.tcp.ip = 127.0.0.1
web_stomp.tcp.port = %d
web_stomp.ws_frame = binary
management.tcp.ip = 127.0.0.1
management.tcp.port = %d
management.rates_mode = none
# Fast statistics, so tests see connections, queues and consumers within
# about a second: objects emit stats every 500 ms, and the management
# collectors aggregate at the smallest retention-policy interval (default
# 5 s, here 1 s).
collect_statistics_interval = 500
management.sample_retention_policies.global.minute = 1
management.sample_retention_policies.basic.minute = 1
management.sample_retention_policies.detailed.10 = 1
loopback_users.guest = false
log.console = false
log.file.level = info
`, n.AMQPPort, n.STOMPPort, n.WebSTOMPPort, n.MgmtPort)
}

// writeFiles creates the node's directory tree and configuration files.
func (n *Node) writeFiles() error {
	for _, d := range []string{n.homeDir(), n.path("mnesia"), n.path("log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		"rabbitmq.conf":     n.configText(),
		"enabled_plugins":   "[" + strings.Join(plugins, ",") + "].\n",
		"rabbitmq-env.conf": "", // keeps /etc/rabbitmq/rabbitmq-env.conf out
	}
	for name, text := range files {
		if err := os.WriteFile(n.path(name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return n.writeOptionFiles()
}

// environ is the environment for rabbitmq-server and rabbitmqctl. Every
// RABBITMQ_*, ERL_* and HOME variable of the caller is dropped so that
// nothing from a developer's shell or the system node leaks in.
//
// RabbitMQ 3.10.8 facts (checked here): RABBITMQ_CONFIG_FILE may be given
// with the ".conf" extension or without one (the node then tries FILE.config
// and FILE.conf); the extension decides the format. RABBITMQ_CONFIG_FILES
// defaults to /etc/rabbitmq/conf.d/*.conf and RABBITMQ_ADVANCED_CONFIG_FILE
// to /etc/rabbitmq/advanced.config, so both are pointed into the node's
// directory. RABBITMQ_CONF_ENV_FILE defaults to /etc/rabbitmq/rabbitmq-env.conf
// (which on this machine sets NODENAME and ERL_FLAGS), so it points to an
// empty file.
func (n *Node) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || strings.HasPrefix(k, "RABBITMQ_") || strings.HasPrefix(k, "ERL_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+n.homeDir(), // fresh .erlang.cookie, shared with rabbitmqctl
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
		"RABBITMQ_NODENAME="+n.Name,
		"RABBITMQ_MNESIA_BASE="+n.path("mnesia"),
		"RABBITMQ_LOG_BASE="+n.path("log"),
		"RABBITMQ_PID_FILE="+n.pidFile(),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", n.DistPort),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+n.path("enabled_plugins"),
		"RABBITMQ_CONFIG_FILE="+n.configFileEnv(),
		"RABBITMQ_CONFIG_FILES="+n.path("conf.d", "*.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+n.path("advanced.config"),
		"RABBITMQ_CONF_ENV_FILE="+n.path("rabbitmq-env.conf"),
		// Erlang distribution on loopback only. epmd is shared with any
		// other node; if this node has to start it, it listens on
		// loopback only as well.
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_CRASH_DUMP="+n.path("log", "erl_crash.dump"),
	)
}

// configWithoutExtension makes RABBITMQ_CONFIG_FILE name the config file
// without its ".conf" extension; the package test sets it to prove that
// form works too.
var configWithoutExtension = false

func (n *Node) configFileEnv() string {
	if configWithoutExtension {
		return n.path("rabbitmq")
	}
	return n.path("rabbitmq.conf")
}

func (n *Node) path(elem ...string) string {
	return filepath.Join(append([]string{n.Dir}, elem...)...)
}

func (n *Node) homeDir() string { return n.path("home") }
func (n *Node) pidFile() string { return n.path("rabbitmq.pid") }

// LogFile is the node's main log file.
func (n *Node) LogFile() string { return n.path("log", n.Name+".log") }

// StartupLog is where the rabbitmq-server script's stdout and stderr go.
func (n *Node) StartupLog() string { return n.path("log", "startup.log") }
