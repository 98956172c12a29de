package check

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// decodeStrict decodes a YAML manifest into v, refusing unknown fields
// (as kubectl apply --validate=strict does) and trailing documents.
func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s does not decode strictly as %T: %v", path, v, err)
	}
}

func TestServingRuntimeDecodesStrictly(t *testing.T) {
	var sr ServingRuntime
	decodeStrict(t, "../servingruntime.yaml", &sr)
	if sr.APIVersion != "serving.kserve.io/v1alpha1" || (sr.Kind != "ServingRuntime" && sr.Kind != "ClusterServingRuntime") {
		t.Fatalf("apiVersion/kind %s/%s", sr.APIVersion, sr.Kind)
	}
	if !slices.Contains(sr.Spec.ProtocolVersions, "v2") {
		t.Errorf("protocolVersions %v lacks v2", sr.Spec.ProtocolVersions)
	}
	if len(sr.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(sr.Spec.Containers))
	}
	c := sr.Spec.Containers[0]
	if c.Name != "kserve-container" {
		t.Errorf("container %q: KServe expects kserve-container", c.Name)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http1"] != 8080 || ports["h2c"] != 8081 {
		t.Errorf("ports %v: want http1 8080 (REST) and h2c 8081 (gRPC)", ports)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"-addr :8080", "-grpc-addr :8081", "-model-name {{.Name}}"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/v2/health/ready" || p.HTTPGet.Port.IntValue() != 8080 {
		t.Errorf("readiness probe %+v: want GET /v2/health/ready on 8080", p)
	}
	if p := c.LivenessProbe; p == nil || p.GRPC == nil || p.GRPC.Port != 8081 {
		t.Errorf("liveness probe %+v: want the gRPC health probe on 8081", p)
	}
}

func TestInferenceServiceDecodesStrictly(t *testing.T) {
	var sr ServingRuntime
	decodeStrict(t, "../servingruntime.yaml", &sr)
	var isvc InferenceService
	decodeStrict(t, "../inferenceservice.yaml", &isvc)
	if isvc.APIVersion != "serving.kserve.io/v1beta1" || isvc.Kind != "InferenceService" {
		t.Fatalf("apiVersion/kind %s/%s", isvc.APIVersion, isvc.Kind)
	}
	m := isvc.Spec.Predictor.Model
	if m == nil || m.Runtime == nil || *m.Runtime != sr.Name {
		t.Fatalf("the predictor's model must name the runtime %q", sr.Name)
	}
	if m.ProtocolVersion == nil || *m.ProtocolVersion != "v2" {
		t.Errorf("protocolVersion %v, want v2", m.ProtocolVersion)
	}
	found := false
	for _, f := range sr.Spec.SupportedModelFormats {
		if f.Name == m.ModelFormat.Name {
			found = true
		}
	}
	if !found {
		t.Errorf("model format %q is not one the runtime supports", m.ModelFormat.Name)
	}
}

// TestStrictDecodingRefusesUnknownFields shows the check can fail: a
// misspelt field is refused.
func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	b, err := os.ReadFile("../servingruntime.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "protocolVersions:", "protocolVersion:", 1)
	js, err := yaml.YAMLToJSON([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var sr ServingRuntime
	if err := dec.Decode(&sr); err == nil || !strings.Contains(err.Error(), "protocolVersion") {
		t.Fatalf("a misspelt field was accepted: %v", err)
	}
}
