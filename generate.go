// Package rollcall holds the code-generation entry point: ent first (which
// writes graph/ent.graphqls), then gqlgen.
package rollcall

//go:generate go run -mod=mod ./ent/entc.go
//go:generate go tool gqlgen
