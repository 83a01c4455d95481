package kube

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// chatrelayDeployment returns the replicas' Deployment and its container.
func chatrelayDeployment(t testing.TB, m *manifest) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	for _, d := range m.Deployments {
		if d.Name == "chatrelay" {
			for i := range d.Spec.Template.Spec.Containers {
				if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "chatrelay" {
					return d, c
				}
			}
		}
	}
	t.Fatal("no Deployment chatrelay with a container chatrelay")
	return nil, nil
}

// envRef returns the Secret reference of a container variable.
func envRef(t testing.TB, m *manifest, name string) *corev1.SecretKeySelector {
	t.Helper()
	_, c := chatrelayDeployment(t, m)
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	t.Fatalf("no env %s from a Secret", name)
	return nil
}

// deref shows an optional count.
func deref(n *int32) string {
	if n == nil {
		return "unset"
	}
	return strconv.Itoa(int(*n))
}

// shutdownTimeout is the -shutdown-timeout argument (cmd/chatrelay).
func shutdownTimeout(t testing.TB, c *corev1.Container) time.Duration {
	t.Helper()
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(strings.TrimLeft(a, "-"), "shutdown-timeout="); ok {
			return mustDuration(t, v)
		}
	}
	t.Fatalf("args %v: no -shutdown-timeout=DURATION: the drain time must be stated to size the grace period", c.Args)
	return 0
}

func mustDuration(t testing.TB, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// preStopSleep is the preStop hook's sleep: the kubelet's sleep action or
// an exec of sleep N.
func preStopSleep(t testing.TB, c *corev1.Container) time.Duration {
	t.Helper()
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		t.Fatal("no preStop hook")
	}
	h := c.Lifecycle.PreStop
	switch {
	case h.Sleep != nil:
		return time.Duration(h.Sleep.Seconds) * time.Second
	case h.Exec != nil && len(h.Exec.Command) == 2 && h.Exec.Command[0] == "sleep":
		return mustDuration(t, h.Exec.Command[1]+"s")
	}
	t.Fatalf("preStop %+v is not a sleep", h)
	return 0
}

// TestDeploymentReplicasAndProbes: at least two replicas (the HPA's floor
// too), readiness on /readyz and liveness on /healthz at the http port,
// and a rolling update that never drops below the count.
func TestDeploymentReplicasAndProbes(t *testing.T) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			m := load(t, o)
			d, c := chatrelayDeployment(t, m)
			if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
				t.Errorf("replicas %s, want at least 2", deref(d.Spec.Replicas))
			}
			for _, h := range m.HPAs {
				if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || deref(h.Spec.MinReplicas) != deref(d.Spec.Replicas) {
					t.Errorf("HPA %s minReplicas %s, want the Deployment's %s (at least 2)", h.Name, deref(h.Spec.MinReplicas), deref(d.Spec.Replicas))
				}
			}
			if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
				t.Errorf("rolling update %+v: want maxUnavailable 0", ru)
			}
			for _, p := range []struct {
				name  string
				probe *corev1.Probe
				path  string
			}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					t.Errorf("no HTTP %s probe", p.name)
					continue
				}
				if g := p.probe.HTTPGet; g.Path != p.path || g.Port.String() != "http" {
					t.Errorf("%s probe GET %s on %s, want %s on http", p.name, g.Path, g.Port.String(), p.path)
				}
			}
		})
	}
}

// TestDeploymentSecurity: non-root, read-only root filesystem, no
// privilege escalation, no capabilities, RuntimeDefault seccomp, no token.
func TestDeploymentSecurity(t *testing.T) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			d, c := chatrelayDeployment(t, load(t, o))
			ps := d.Spec.Template.Spec.SecurityContext
			if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
				t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", ps)
			}
			if ps != nil && (ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
				t.Error("pod seccompProfile is not RuntimeDefault")
			}
			sc := c.SecurityContext
			switch {
			case sc == nil:
				t.Fatal("no container securityContext")
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Error("root filesystem is writable")
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Error("privilege escalation is allowed")
			case sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot:
				t.Error("container allows root")
			case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0:
				t.Errorf("capabilities %+v, want drop ALL only", sc.Capabilities)
			}
			if a := d.Spec.Template.Spec.AutomountServiceAccountToken; a == nil || *a {
				t.Error("the pod mounts a service account token")
			}
		})
	}
}

// TestGracefulShutdownFits: SIGKILL comes only after the preStop sleep
// and the server's whole shutdown (-shutdown-timeout), and that shutdown
// leaves time for pending room messages (rooms.confirm.timeout).
func TestGracefulShutdownFits(t *testing.T) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			m := load(t, o)
			d, c := chatrelayDeployment(t, m)
			grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
			if grace == nil {
				t.Fatal("no terminationGracePeriodSeconds (the default 30 s is implicit)")
			}
			sleep, drain := preStopSleep(t, c), shutdownTimeout(t, c)
			if g := time.Duration(*grace) * time.Second; g <= sleep+drain {
				t.Errorf("terminationGracePeriodSeconds %v <= preStop %v + shutdown %v", g, sleep, drain)
			}
			if sleep < 5*time.Second {
				t.Errorf("preStop sleep %v: too short for endpoints to leave the ingress", sleep)
			}
			cfg := effectiveConfig(t, m)
			if drain < cfg.Rooms.Confirm.Timeout {
				t.Errorf("shutdown %v is shorter than rooms.confirm.timeout %v", drain, cfg.Rooms.Confirm.Timeout)
			}
		})
	}
}

// semver or digest: a pinned image reference.
var pinnedTag = regexp.MustCompile(`(:[0-9]+\.[0-9]+\.[0-9]+(-[a-z0-9.-]+)?|@sha256:[0-9a-f]{64})$`)

// TestDeploymentResources: requests and a memory limit are set, requests
// within limits, and GOMEMLIMIT under the memory limit; production runs a
// pinned image.
func TestDeploymentResources(t *testing.T) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			_, c := chatrelayDeployment(t, load(t, o))
			r := c.Resources
			cpu, mem := r.Requests[corev1.ResourceCPU], r.Requests[corev1.ResourceMemory]
			limit, ok := r.Limits[corev1.ResourceMemory]
			if cpu.IsZero() || mem.IsZero() || !ok {
				t.Fatalf("resources %+v: want cpu and memory requests and a memory limit", r)
			}
			if mem.Cmp(limit) > 0 {
				t.Errorf("memory request %s above limit %s", mem.String(), limit.String())
			}
			var gomem string
			for _, e := range c.Env {
				if e.Name == "GOMEMLIMIT" {
					gomem = e.Value
				}
			}
			q, err := resource.ParseQuantity(strings.TrimSuffix(strings.ReplaceAll(gomem, "iB", "i"), "B"))
			if err != nil || q.Cmp(limit) >= 0 || q.Cmp(mem) < 0 {
				t.Errorf("GOMEMLIMIT %q: want between the memory request %s and limit %s (%v)", gomem, mem.String(), limit.String(), err)
			}
			if o == "production" && !pinnedTag.MatchString(c.Image) {
				t.Errorf("production image %q is not pinned (x.y.z tag or digest)", c.Image)
			}
		})
	}
}
