//go:build tools

// Package sources keeps the API packages in go.mod and go.sum (go mod tidy drops unused modules).
package sources

import (
	_ "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)
