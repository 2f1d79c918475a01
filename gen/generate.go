// Package gen holds the code oapi-codegen generates from openapi.yaml. Never edit it by hand.
package gen

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config server.cfg.yaml ../openapi.yaml
