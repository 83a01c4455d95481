package kube

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// pods is a set of pods the build creates: a Deployment's, or a
// RabbitmqCluster's (made by the operator, labelled with the cluster's name).
type pods struct {
	owner  string
	labels labels.Set
	spec   *corev1.PodSpec // nil for the operator's pods
}

// podSets lists the pods of the build.
func (m *manifest) podSets() []pods {
	var ps []pods
	for _, d := range m.Deployments {
		ps = append(ps, pods{"Deployment " + d.Name, d.Spec.Template.Labels, &d.Spec.Template.Spec})
	}
	for _, c := range m.RabbitmqClusters {
		ps = append(ps, pods{"RabbitmqCluster " + c.Name, labels.Set{"app.kubernetes.io/name": c.Name}, nil})
	}
	return ps
}

// selected returns the pods a label selector picks; an invalid selector
// is an error.
func (m *manifest) selected(sel *metav1.LabelSelector) ([]pods, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, err
	}
	var out []pods
	for _, p := range m.podSets() {
		if s.Matches(p.labels) {
			out = append(out, p)
		}
	}
	return out, nil
}

// hasPort reports whether a port (by name or number) is a container port
// of the pods; the operator's pods are taken to have any port.
func hasPort(p pods, port intstr.IntOrString) bool {
	if p.spec == nil {
		return true
	}
	for _, c := range p.spec.Containers {
		for _, cp := range c.Ports {
			if (port.Type == intstr.String && cp.Name == port.StrVal) ||
				(port.Type == intstr.Int && cp.ContainerPort == port.IntVal) {
				return true
			}
		}
	}
	return false
}

// secretKeys returns the keys of a Secret in the build, else of a
// documented external one; ok is false when neither exists.
func (m *manifest) secretKeys(name string, external map[string][]string) (keys []string, ok bool) {
	for _, s := range m.Secrets {
		if s.Name == name {
			for k := range s.Data {
				keys = append(keys, k)
			}
			for k := range s.StringData {
				keys = append(keys, k)
			}
			return keys, true
		}
	}
	keys, ok = external[name]
	return keys, ok
}

// configMap returns the ConfigMap of that name, or nil.
func (m *manifest) configMap(name string) *corev1.ConfigMap {
	for _, c := range m.ConfigMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// service returns the Service of that name, or nil.
func (m *manifest) service(name string) *corev1.Service {
	for _, s := range m.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// checkRefs returns every broken cross-reference of the build; external
// names the Secrets created outside it, with their keys.
func checkRefs(m *manifest, external map[string][]string) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, d := range m.Deployments {
		errs = append(errs, checkDeployment(m, d, external)...)
	}
	for _, s := range m.Services {
		ps, err := m.selected(&metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		if err != nil || len(s.Spec.Selector) == 0 || len(ps) == 0 {
			fail("Service %s: selector %v selects no pods of the build (%v)", s.Name, s.Spec.Selector, err)
		}
		for _, p := range ps {
			for _, sp := range s.Spec.Ports {
				if !hasPort(p, sp.TargetPort) {
					fail("Service %s: targetPort %s is no container port of %s", s.Name, sp.TargetPort.String(), p.owner)
				}
			}
		}
	}
	for _, ing := range m.Ingresses {
		for _, b := range ingressBackends(ing) {
			s := m.service(b.Name)
			if s == nil {
				fail("Ingress %s: backend Service %s is not in the build", ing.Name, b.Name)
				continue
			}
			if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool {
				return (b.Port.Name != "" && p.Name == b.Port.Name) || (b.Port.Name == "" && p.Port == b.Port.Number)
			}) {
				fail("Ingress %s: Service %s has no port %q/%d", ing.Name, b.Name, b.Port.Name, b.Port.Number)
			}
		}
		for _, tls := range ing.Spec.TLS {
			if keys, ok := m.secretKeys(tls.SecretName, external); !ok || !slices.Contains(keys, "tls.crt") || !slices.Contains(keys, "tls.key") {
				fail("Ingress %s: TLS Secret %s is neither in the build nor documented with tls.crt and tls.key", ing.Name, tls.SecretName)
			}
		}
	}
	for _, p := range m.PDBs {
		if ps, err := m.selected(p.Spec.Selector); err != nil || len(ps) == 0 {
			fail("PodDisruptionBudget %s: selector selects no pods of the build (%v)", p.Name, err)
		}
	}
	for _, h := range m.HPAs {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || !slices.ContainsFunc(m.Deployments, func(d *appsv1.Deployment) bool { return d.Name == ref.Name }) {
			fail("HorizontalPodAutoscaler %s: target %s %s %s is not in the build", h.Name, ref.APIVersion, ref.Kind, ref.Name)
		}
	}
	for _, np := range m.NetworkPolicies {
		errs = append(errs, checkNetworkPolicyRefs(m, np)...)
	}
	errs = append(errs, checkRabbitRefs(m, external)...)
	return errs
}

// ingressBackends lists the Services an Ingress sends to.
func ingressBackends(ing *networkingv1.Ingress) []networkingv1.IngressServiceBackend {
	var out []networkingv1.IngressServiceBackend
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil {
		out = append(out, *b.Service)
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil {
				out = append(out, *p.Backend.Service)
			}
		}
	}
	return out
}

// checkDeployment: selector and labels, service account, ConfigMaps,
// Secrets and their keys, volumes, probe ports.
func checkDeployment(m *manifest, d *appsv1.Deployment, external map[string][]string) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: "+format, append([]any{d.Name}, args...)...))
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		fail("selector %v does not match the pod template's labels %v (%v)", d.Spec.Selector, d.Spec.Template.Labels, err)
	}
	spec := &d.Spec.Template.Spec
	if sa := spec.ServiceAccountName; sa != "" && !slices.ContainsFunc(m.ServiceAccounts, func(s *corev1.ServiceAccount) bool { return s.Name == sa }) {
		fail("ServiceAccount %s is not in the build", sa)
	}
	secretKey := func(what, name, key string, optional bool) {
		keys, ok := m.secretKeys(name, external)
		switch {
		case !ok && !optional:
			fail("%s: Secret %s is neither in the build nor a documented external Secret", what, name)
		case ok && key != "" && !slices.Contains(keys, key):
			fail("%s: Secret %s has no key %s (has %v)", what, name, key, keys)
		}
	}
	configMapKey := func(what, name, key string) {
		c := m.configMap(name)
		if c == nil {
			fail("%s: ConfigMap %s is not in the build", what, name)
			return
		}
		if _, ok := c.Data[key]; key != "" && !ok {
			fail("%s: ConfigMap %s has no key %s", what, name, key)
		}
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		for _, ef := range c.EnvFrom {
			if r := ef.ConfigMapRef; r != nil {
				configMapKey("envFrom", r.Name, "")
			}
			if r := ef.SecretRef; r != nil {
				secretKey("envFrom", r.Name, "", r.Optional != nil && *r.Optional)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				secretKey("env "+e.Name, r.Name, r.Key, r.Optional != nil && *r.Optional)
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				configMapKey("env "+e.Name, r.Name, r.Key)
			}
		}
		for _, vm := range c.VolumeMounts {
			if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name }) {
				fail("container %s mounts volume %s, which the pod does not have", c.Name, vm.Name)
			}
		}
		for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			if p != nil && p.HTTPGet != nil && !hasPort(pods{spec: spec}, p.HTTPGet.Port) {
				fail("container %s: probe port %s is no container port", c.Name, p.HTTPGet.Port.String())
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			secretKey("volume "+v.Name, v.Secret.SecretName, "", v.Secret.Optional != nil && *v.Secret.Optional)
		}
		if v.ConfigMap != nil {
			configMapKey("volume "+v.Name, v.ConfigMap.Name, "")
		}
	}
	return errs
}

// checkNetworkPolicyRefs: the policy selects pods of the build, in-namespace
// peers select pods too, and named ports exist on the selected pods.
func checkNetworkPolicyRefs(m *manifest, np *networkingv1.NetworkPolicy) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("NetworkPolicy %s: "+format, append([]any{np.Name}, args...)...))
	}
	targets, err := m.selected(&np.Spec.PodSelector)
	if err != nil || len(targets) == 0 {
		fail("podSelector selects no pods of the build (%v)", err)
	}
	for _, rule := range np.Spec.Ingress {
		for _, peer := range rule.From {
			if peer.PodSelector != nil && peer.NamespaceSelector == nil {
				if ps, err := m.selected(peer.PodSelector); err != nil || len(ps) == 0 {
					fail("peer podSelector %v selects no pods of the build (%v)", peer.PodSelector.MatchLabels, err)
				}
			}
		}
		for _, p := range rule.Ports {
			for _, t := range targets {
				if p.Port != nil && !hasPort(t, *p.Port) {
					fail("port %s is no container port of %s", p.Port.String(), t.owner)
				}
			}
		}
	}
	return errs
}

// checkRabbitRefs: the topology objects name the cluster, the user, the
// vhost and the credentials Secret of the build.
func checkRabbitRefs(m *manifest, external map[string][]string) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	cluster := func(what string, ref RabbitmqClusterReference) {
		if ref.ConnectionSecret != nil || !slices.ContainsFunc(m.RabbitmqClusters, func(c *RabbitmqCluster) bool { return c.Name == ref.Name }) {
			fail("%s: rabbitmqClusterReference %q is no RabbitmqCluster of the build", what, ref.Name)
		}
	}
	vhosts := map[string]bool{}
	for _, v := range m.Vhosts {
		cluster("Vhost "+v.Name, v.Spec.RabbitmqClusterReference)
		vhosts[v.Spec.Name] = true
	}
	for _, u := range m.Users {
		cluster("User "+u.Name, u.Spec.RabbitmqClusterReference)
		if s := u.Spec.ImportCredentialsSecret; s == nil {
			fail("User %s: no importCredentialsSecret (the operator would make up a password)", u.Name)
		} else if keys, ok := m.secretKeys(s.Name, external); !ok || !slices.Contains(keys, "username") || !slices.Contains(keys, "password") {
			fail("User %s: Secret %s is not in the build or documented with username and password", u.Name, s.Name)
		}
	}
	for _, p := range m.Permissions {
		cluster("Permission "+p.Name, p.Spec.RabbitmqClusterReference)
		if r := p.Spec.UserReference; r == nil || !slices.ContainsFunc(m.Users, func(u *RabbitmqUser) bool { return u.Name == r.Name }) {
			fail("Permission %s: userReference is no User of the build", p.Name)
		}
		if !vhosts[p.Spec.Vhost] {
			fail("Permission %s: vhost %q is no Vhost of the build", p.Name, p.Spec.Vhost)
		}
	}
	return errs
}
