package httpapi

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/irisknn/irisknn/internal/dataset"
)

// irisLabel is the label key api/openapi.yaml is written with.
const irisLabel = "species"

// specFor returns the OpenAPI document for a training set of the given
// schema and classes, generated from api/openapi.yaml (which describes
// Iris): the feature arrays and objects name the schema's features, the
// label key is the schema's label name wherever the source says species,
// and every label is one of the classes. For the shipped Iris the result
// says what the source says.
func specFor(src []byte, schema *dataset.Schema, classes []string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	root := doc.Content[0]
	schemas := get(get(root, "components"), "schemas")
	if schemas == nil {
		return nil, fmt.Errorf("api/openapi.yaml has no components.schemas")
	}
	names := schema.Features()
	label := schema.Label()

	arr := get(schemas, "FeatureArray")
	set(arr, "description", str(strings.Join(names, ", ")+", in this order."))
	set(arr, "minItems", num(len(names)))
	set(arr, "maxItems", num(len(names)))
	obj := get(schemas, "FeatureObject")
	props := &yaml.Node{Kind: yaml.MappingNode}
	for _, n := range names {
		props.Content = append(props.Content, str(n), &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle,
			Content: []*yaml.Node{str("type"), str("number")}})
	}
	set(obj, "required", strs(names))
	set(obj, "properties", props)

	enum := strs(classes)
	for _, name := range []string{"Neighbor", "Prediction", "PredictResponse", "Sample", "SampleInput"} {
		s := get(schemas, name)
		if s == nil {
			return nil, fmt.Errorf("api/openapi.yaml has no schema %s", name)
		}
		if req := get(s, "required"); req != nil {
			for _, n := range req.Content {
				if n.Value == irisLabel {
					n.Value = label
				}
			}
		}
		p := get(get(s, "properties"), irisLabel)
		if p == nil {
			return nil, fmt.Errorf("api/openapi.yaml: %s has no %s", name, irisLabel)
		}
		if ref := get(p, "$ref"); ref != nil {
			ref.Value = strings.TrimSuffix(ref.Value, "/properties/"+irisLabel) + "/properties/" + label
		} else {
			set(p, "enum", enum)
		}
		rename(get(s, "properties"), irisLabel, label)
	}
	// The label filter of GET /samples is named after the label.
	for _, param := range get(get(get(get(root, "paths"), "/samples"), "get"), "parameters").Content {
		if n := get(param, "name"); n != nil && n.Value == irisLabel {
			n.Value = label
		}
	}
	// Examples are written for Iris: another schema gets none.
	if !schema.Equal(dataset.IrisSchema()) {
		dropExamples(root)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// get returns the value of key in the mapping m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// set sets key in the mapping m to v.
func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, str(key), v)
}

// rename renames key in the mapping m.
func rename(m *yaml.Node, from, to string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == from {
			m.Content[i].Value = to
		}
	}
}

// dropExamples removes every example and examples key under n.
func dropExamples(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k == "example" || k == "examples" {
				continue
			}
			kept = append(kept, n.Content[i], n.Content[i+1])
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		dropExamples(c)
	}
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func num(n int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)}
}

func strs(ss []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range ss {
		n.Content = append(n.Content, str(s))
	}
	return n
}
