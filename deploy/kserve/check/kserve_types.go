// Package check holds KServe's API types for the resources deploy/kserve
// ships, and a test that decodes the manifests into them strictly.
//
// The KServe module is not available from the module proxy here, so its
// types are transcribed: field names, JSON tags and inlining copied from
// kserve/kserve pkg/apis/serving/v1alpha1/servingruntime_types.go (commit
// 0217bdabaaa250485b336805da1aed04960dc758; complete for ServingRuntime
// and ClusterServingRuntime) and pkg/apis/serving/v1beta1/predictor.go
// (same commit), component.go (commit 017d86a94cb89b242e219f7a717ee56fc8f43eef)
// and model.go for the InferenceService's predictor. The Kubernetes types
// they embed (Container, PodSpec, Probe, ...) are the real ones, from the
// pinned k8s.io/api module. Left out, so refused if a manifest uses them:
// the predictor's framework-specific specs (sklearn, triton, ...), the
// explainer and the transformer; logger and batcher are kept opaque.
package check

import (
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ---- serving.kserve.io/v1alpha1 (servingruntime_types.go) ----

// SupportedModelFormat is KServe's v1alpha1.SupportedModelFormat.
type SupportedModelFormat struct {
	Name       string  `json:"name"`
	Version    *string `json:"version,omitempty"`
	AutoSelect *bool   `json:"autoSelect,omitempty"`
	Priority   *int32  `json:"priority,omitempty"`
}

// StorageHelper is KServe's v1alpha1.StorageHelper.
type StorageHelper struct {
	Disabled bool `json:"disabled,omitempty"`
}

// ServingRuntimePodSpec is KServe's v1alpha1.ServingRuntimePodSpec.
type ServingRuntimePodSpec struct {
	Containers       []corev1.Container            `json:"containers"`
	Volumes          []corev1.Volume               `json:"volumes,omitempty"`
	NodeSelector     map[string]string             `json:"nodeSelector,omitempty"`
	Affinity         *corev1.Affinity              `json:"affinity,omitempty"`
	Tolerations      []corev1.Toleration           `json:"tolerations,omitempty"`
	Labels           map[string]string             `json:"labels,omitempty"`
	Annotations      map[string]string             `json:"annotations,omitempty"`
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	HostIPC          bool                          `json:"hostIPC,omitempty"`
}

// ServingRuntimeSpec is KServe's v1alpha1.ServingRuntimeSpec.
type ServingRuntimeSpec struct {
	SupportedModelFormats            []SupportedModelFormat `json:"supportedModelFormats,omitempty"`
	MultiModel                       *bool                  `json:"multiModel,omitempty"`
	Disabled                         *bool                  `json:"disabled,omitempty"`
	ProtocolVersions                 []string               `json:"protocolVersions,omitempty"`
	WorkerSpec                       *WorkerSpecV1alpha1    `json:"workerSpec,omitempty"`
	ServingRuntimePodSpec            `json:",inline"`
	GrpcMultiModelManagementEndpoint *string         `json:"grpcEndpoint,omitempty"`
	GrpcDataEndpoint                 *string         `json:"grpcDataEndpoint,omitempty"`
	HTTPDataEndpoint                 *string         `json:"httpDataEndpoint,omitempty"`
	Replicas                         *uint16         `json:"replicas,omitempty"`
	StorageHelper                    *StorageHelper  `json:"storageHelper,omitempty"`
	BuiltInAdapter                   *BuiltInAdapter `json:"builtInAdapter,omitempty"`
}

// BuiltInAdapter is KServe's v1alpha1.BuiltInAdapter.
type BuiltInAdapter struct {
	ServerType                string          `json:"serverType,omitempty"`
	RuntimeManagementPort     int             `json:"runtimeManagementPort,omitempty"`
	MemBufferBytes            int             `json:"memBufferBytes,omitempty"`
	ModelLoadingTimeoutMillis int             `json:"modelLoadingTimeoutMillis,omitempty"`
	Env                       []corev1.EnvVar `json:"env,omitempty"`
}

// WorkerSpecV1alpha1 is KServe's v1alpha1.WorkerSpec.
type WorkerSpecV1alpha1 struct {
	ServingRuntimePodSpec `json:",inline"`
	PipelineParallelSize  *int `json:"pipelineParallelSize,omitempty"`
	TensorParallelSize    *int `json:"tensorParallelSize,omitempty"`
}

// ServingRuntime is KServe's v1alpha1.ServingRuntime (also the shape of a
// ClusterServingRuntime).
type ServingRuntime struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ServingRuntimeSpec `json:"spec,omitempty"`
	Status            struct{}           `json:"status,omitempty"`
}

// ---- serving.kserve.io/v1beta1 (predictor.go, component.go, model.go) ----

// ModelFormat is KServe's v1beta1.ModelFormat.
type ModelFormat struct {
	Name    string  `json:"name"`
	Version *string `json:"version,omitempty"`
}

// StorageSpec is KServe's v1beta1.StorageSpec.
type StorageSpec struct {
	Path       *string            `json:"path,omitempty"`
	SchemaPath *string            `json:"schemaPath,omitempty"`
	Parameters *map[string]string `json:"parameters,omitempty"`
	StorageKey *string            `json:"key,omitempty"`
}

// ModelStorageSpec is KServe's v1beta1.ModelStorageSpec.
type ModelStorageSpec struct {
	StorageSpec `json:",inline"`
}

// PredictorExtensionSpec is KServe's v1beta1.PredictorExtensionSpec.
type PredictorExtensionSpec struct {
	StorageURI       *string `json:"storageUri,omitempty"`
	RuntimeVersion   *string `json:"runtimeVersion,omitempty"`
	ProtocolVersion  *string `json:"protocolVersion,omitempty"`
	corev1.Container `json:",inline"`
	Storage          *ModelStorageSpec `json:"storage,omitempty"`
}

// ModelSpec is KServe's v1beta1.ModelSpec.
type ModelSpec struct {
	ModelFormat            ModelFormat `json:"modelFormat"`
	Runtime                *string     `json:"runtime,omitempty"`
	PredictorExtensionSpec `json:",inline"`
}

// ComponentExtensionSpec is KServe's v1beta1.ComponentExtensionSpec.
type ComponentExtensionSpec struct {
	MinReplicas          *int                       `json:"minReplicas,omitempty"`
	MaxReplicas          int                        `json:"maxReplicas,omitempty"`
	ScaleTarget          *int                       `json:"scaleTarget,omitempty"`
	ScaleMetric          *string                    `json:"scaleMetric,omitempty"`
	ContainerConcurrency *int64                     `json:"containerConcurrency,omitempty"`
	TimeoutSeconds       *int64                     `json:"timeout,omitempty"`
	CanaryTrafficPercent *int64                     `json:"canaryTrafficPercent,omitempty"`
	Logger               json.RawMessage            `json:"logger,omitempty"`
	Batcher              json.RawMessage            `json:"batcher,omitempty"`
	Labels               map[string]string          `json:"labels,omitempty"`
	Annotations          map[string]string          `json:"annotations,omitempty"`
	DeploymentStrategy   *appsv1.DeploymentStrategy `json:"deploymentStrategy,omitempty"`
}

// StorageUri is KServe's v1beta1.StorageUri.
type StorageUri struct {
	Uri       string `json:"uri"`
	MountPath string `json:"mountPath"`
}

// WorkerSpec is KServe's v1beta1.WorkerSpec.
type WorkerSpec struct {
	corev1.PodSpec       `json:",inline"`
	PipelineParallelSize *int `json:"pipelineParallelSize,omitempty"`
	TensorParallelSize   *int `json:"tensorParallelSize,omitempty"`
}

// PredictorSpec is KServe's v1beta1.PredictorSpec without the
// framework-specific specs. KServe's own PodSpec mirrors corev1.PodSpec
// (with containers optional); the real one is inlined here.
type PredictorSpec struct {
	Model                  *ModelSpec   `json:"model,omitempty"`
	StorageUris            []StorageUri `json:"storageUris,omitempty"`
	WorkerSpec             *WorkerSpec  `json:"workerSpec,omitempty"`
	corev1.PodSpec         `json:",inline"`
	ComponentExtensionSpec `json:",inline"`
}

// InferenceServiceSpec is KServe's v1beta1.InferenceServiceSpec without
// the explainer and the transformer.
type InferenceServiceSpec struct {
	Predictor PredictorSpec `json:"predictor"`
}

// InferenceService is KServe's v1beta1.InferenceService.
type InferenceService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              InferenceServiceSpec `json:"spec,omitempty"`
	Status            struct{}             `json:"status,omitempty"`
}
