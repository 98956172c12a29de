// Package api embeds the OpenAPI 3 description of the service, served at
// GET /openapi.yaml and checked against real responses by the tests.
package api

import _ "embed"

// OpenAPIYAML is openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte
