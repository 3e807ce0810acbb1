//go:build tools

// Package tools pins the upstream command this wrapper module builds.
package tools

import (
	_ "github.com/traefik/traefik/v3/cmd/traefik"
)
