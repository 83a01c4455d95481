// Package kube holds the Kubernetes deployment's acceptance tests; it has
// no code of its own. The tests build deploy/kubernetes the way kubectl
// apply -k does (sigs.k8s.io/kustomize/api, pinned in go.mod), without a
// cluster:
//
//   - every overlay builds, and every object decodes strictly into its
//     k8s.io/api type (an unknown field or kind fails); the RabbitMQ
//     operators' resources decode into local mirrors of their v1beta1
//     types (rabbitmq_types_test.go says why);
//   - cross-references hold: selectors match pod labels, Services,
//     Secrets, ConfigMaps, ports and RabbitMQ objects named anywhere exist
//     in the build or are external Secrets documented in
//     deploy/kubernetes/README.md; mutated copies prove the checker fails;
//   - the replicas' settings agree with config.yaml (loaded through
//     internal/config with the manifests' environment), compose.yaml and
//     rabbitmq/: ports, vhost, permissions, plugins, broker configuration;
//   - the Deployment's probes, security context, shutdown timing and
//     resources, the NetworkPolicies, the Ingresses' timeouts and the
//     production overlay's replicas, image and TLS.
package kube
