package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// kinds makes an empty typed object for each apiVersion and kind the
// deployment may contain; any other kind is an error.
var kinds = map[string]func() any{
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/Ingress":           func() any { return &networkingv1.Ingress{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"rabbitmq.com/v1beta1/RabbitmqCluster":   func() any { return &RabbitmqCluster{} },
	"rabbitmq.com/v1beta1/Vhost":             func() any { return &Vhost{} },
	"rabbitmq.com/v1beta1/User":              func() any { return &RabbitmqUser{} },
	"rabbitmq.com/v1beta1/Permission":        func() any { return &Permission{} },
}

// object is one decoded object and its identity.
type object struct {
	kind, name, namespace string
	obj                   any
}

// manifest is a build's objects, decoded, by kind.
type manifest struct {
	objects          []object
	Deployments      []*appsv1.Deployment
	Services         []*corev1.Service
	Ingresses        []*networkingv1.Ingress
	NetworkPolicies  []*networkingv1.NetworkPolicy
	PDBs             []*policyv1.PodDisruptionBudget
	HPAs             []*autoscalingv2.HorizontalPodAutoscaler
	ConfigMaps       []*corev1.ConfigMap
	Secrets          []*corev1.Secret
	ServiceAccounts  []*corev1.ServiceAccount
	Namespaces       []*corev1.Namespace
	RabbitmqClusters []*RabbitmqCluster
	Vhosts           []*Vhost
	Users            []*RabbitmqUser
	Permissions      []*Permission
}

// decodeStrict decodes one YAML document into the type its apiVersion and
// kind name: duplicate keys, unknown fields, trailing data and unknown
// kinds are errors.
func decodeStrict(doc []byte) (any, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, err
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %s %s", tm.APIVersion, tm.Kind)
	}
	obj := newObj()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the object", tm.Kind)
	}
	return obj, nil
}

// decodeAll decodes every document into a manifest.
func decodeAll(docs [][]byte) (*manifest, error) {
	m := &manifest{}
	for _, d := range docs {
		obj, err := decodeStrict(d)
		if err != nil {
			return nil, err
		}
		m.add(obj)
	}
	return m, nil
}

// add files obj under its kind.
func (m *manifest) add(obj any) {
	var o object
	switch v := obj.(type) {
	case *appsv1.Deployment:
		m.Deployments = append(m.Deployments, v)
		o = object{"Deployment", v.Name, v.Namespace, v}
	case *corev1.Service:
		m.Services = append(m.Services, v)
		o = object{"Service", v.Name, v.Namespace, v}
	case *networkingv1.Ingress:
		m.Ingresses = append(m.Ingresses, v)
		o = object{"Ingress", v.Name, v.Namespace, v}
	case *networkingv1.NetworkPolicy:
		m.NetworkPolicies = append(m.NetworkPolicies, v)
		o = object{"NetworkPolicy", v.Name, v.Namespace, v}
	case *policyv1.PodDisruptionBudget:
		m.PDBs = append(m.PDBs, v)
		o = object{"PodDisruptionBudget", v.Name, v.Namespace, v}
	case *autoscalingv2.HorizontalPodAutoscaler:
		m.HPAs = append(m.HPAs, v)
		o = object{"HorizontalPodAutoscaler", v.Name, v.Namespace, v}
	case *corev1.ConfigMap:
		m.ConfigMaps = append(m.ConfigMaps, v)
		o = object{"ConfigMap", v.Name, v.Namespace, v}
	case *corev1.Secret:
		m.Secrets = append(m.Secrets, v)
		o = object{"Secret", v.Name, v.Namespace, v}
	case *corev1.ServiceAccount:
		m.ServiceAccounts = append(m.ServiceAccounts, v)
		o = object{"ServiceAccount", v.Name, v.Namespace, v}
	case *corev1.Namespace:
		m.Namespaces = append(m.Namespaces, v)
		o = object{"Namespace", v.Name, v.Namespace, v}
	case *RabbitmqCluster:
		m.RabbitmqClusters = append(m.RabbitmqClusters, v)
		o = object{"RabbitmqCluster", v.Name, v.Namespace, v}
	case *Vhost:
		m.Vhosts = append(m.Vhosts, v)
		o = object{"Vhost", v.Name, v.Namespace, v}
	case *RabbitmqUser:
		m.Users = append(m.Users, v)
		o = object{"User", v.Name, v.Namespace, v}
	case *Permission:
		m.Permissions = append(m.Permissions, v)
		o = object{"Permission", v.Name, v.Namespace, v}
	default:
		panic(fmt.Sprintf("kinds makes %T, which add does not file", obj))
	}
	m.objects = append(m.objects, o)
}

// TestStrictDecodingRejects: the decoder fails on what kubectl would
// silently drop or the API server refuse: a misspelt field at any depth,
// a duplicate key, an unknown kind, and a misspelt field of a mirrored
// RabbitMQ type.
func TestStrictDecodingRejects(t *testing.T) {
	bad := map[string]string{
		"unknown field": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n",
		"unknown nested field": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n" +
			"spec: {ports: [{port: 80, targetPortt: http}]}\n",
		"duplicate key":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nmetadata: {name: y}\n",
		"unknown kind":   "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\n",
		"unknown group":  "apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: x}\n",
		"mirrored type":  "apiVersion: rabbitmq.com/v1beta1\nkind: RabbitmqCluster\nmetadata: {name: x}\nspec: {rabbitmq: {additionalPlugin: [x]}}\n",
		"topology field": "apiVersion: rabbitmq.com/v1beta1\nkind: Permission\nmetadata: {name: x}\nspec: {permissions: {configur: x}}\n",
		"wrong type":     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n",
	}
	for name, doc := range bad {
		if _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error:\n%s", name, doc)
		}
	}
	good := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: 2}\n"
	if _, err := decodeStrict([]byte(good)); err != nil {
		t.Errorf("a valid Deployment: %v", err)
	}
	for _, o := range overlays {
		for _, d := range build(t, o) {
			if strings.Contains(string(d), "\nstatus:") {
				t.Errorf("%s: an object carries a status:\n%s", o, d)
			}
		}
	}
}
