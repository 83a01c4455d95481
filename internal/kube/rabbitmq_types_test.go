package kube

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The RabbitMQ operators' resources (group rabbitmq.com, version v1beta1)
// decode into these mirrors, not the operators' own Go types: the module
// github.com/rabbitmq/cluster-operator/v2 could not be fetched through
// this project's module proxy. Each struct copies the field names and
// JSON tags of the upstream api/v1beta1 types (rabbitmqcluster_types.go
// of the Cluster Operator; vhost_, user_ and permission_types.go of the
// Messaging Topology Operator) for the fields deploy/kubernetes uses, so
// strict decoding fails on a misspelt field and on any field the mirror
// leaves out: add it here, from the upstream type, before using it.

// RabbitmqCluster mirrors rabbitmq.com/v1beta1 RabbitmqCluster.
type RabbitmqCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              RabbitmqClusterSpec `json:"spec,omitempty"`
}

// RabbitmqClusterSpec mirrors the used fields of RabbitmqClusterSpec.
type RabbitmqClusterSpec struct {
	Replicas    *int32                           `json:"replicas,omitempty"`
	Image       string                           `json:"image,omitempty"`
	Persistence RabbitmqClusterPersistenceSpec   `json:"persistence,omitempty"`
	Resources   *corev1.ResourceRequirements     `json:"resources,omitempty"`
	Affinity    *corev1.Affinity                 `json:"affinity,omitempty"`
	Tolerations []corev1.Toleration              `json:"tolerations,omitempty"`
	Rabbitmq    RabbitmqClusterConfigurationSpec `json:"rabbitmq,omitempty"`
}

// RabbitmqClusterPersistenceSpec mirrors the upstream type.
type RabbitmqClusterPersistenceSpec struct {
	StorageClassName *string            `json:"storageClassName,omitempty"`
	Storage          *resource.Quantity `json:"storage,omitempty"`
}

// RabbitmqClusterConfigurationSpec mirrors the upstream type.
type RabbitmqClusterConfigurationSpec struct {
	// AdditionalPlugins: each matches ^\w+$, at most 100.
	AdditionalPlugins []string `json:"additionalPlugins,omitempty"`
	// AdditionalConfig is appended to rabbitmq.conf; at most 2000 bytes.
	AdditionalConfig string `json:"additionalConfig,omitempty"`
	AdvancedConfig   string `json:"advancedConfig,omitempty"`
	EnvConfig        string `json:"envConfig,omitempty"`
}

// RabbitmqClusterReference mirrors the topology types' cluster reference.
type RabbitmqClusterReference struct {
	Name             string                       `json:"name,omitempty"`
	Namespace        string                       `json:"namespace,omitempty"`
	ConnectionSecret *corev1.LocalObjectReference `json:"connectionSecret,omitempty"`
}

// Vhost mirrors rabbitmq.com/v1beta1 Vhost.
type Vhost struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              VhostSpec `json:"spec,omitempty"`
}

// VhostSpec mirrors the upstream type.
type VhostSpec struct {
	Name                     string                   `json:"name"`
	Tracing                  bool                     `json:"tracing,omitempty"`
	Tags                     []string                 `json:"tags,omitempty"`
	RabbitmqClusterReference RabbitmqClusterReference `json:"rabbitmqClusterReference"`
}

// RabbitmqUser mirrors rabbitmq.com/v1beta1 User.
type RabbitmqUser struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              UserSpec `json:"spec,omitempty"`
}

// UserSpec mirrors the upstream type. ImportCredentialsSecret names a
// Secret with the keys username and password.
type UserSpec struct {
	Tags                     []string                     `json:"tags,omitempty"`
	RabbitmqClusterReference RabbitmqClusterReference     `json:"rabbitmqClusterReference"`
	ImportCredentialsSecret  *corev1.LocalObjectReference `json:"importCredentialsSecret,omitempty"`
}

// Permission mirrors rabbitmq.com/v1beta1 Permission.
type Permission struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              PermissionSpec `json:"spec,omitempty"`
}

// PermissionSpec mirrors the upstream type.
type PermissionSpec struct {
	User                     string                       `json:"user,omitempty"`
	UserReference            *corev1.LocalObjectReference `json:"userReference,omitempty"`
	Vhost                    string                       `json:"vhost"`
	Permissions              VhostPermissions             `json:"permissions"`
	RabbitmqClusterReference RabbitmqClusterReference     `json:"rabbitmqClusterReference"`
}

// VhostPermissions mirrors the upstream type.
type VhostPermissions struct {
	Configure string `json:"configure,omitempty"`
	Write     string `json:"write,omitempty"`
	Read      string `json:"read,omitempty"`
}
