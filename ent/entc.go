//go:build ignore

// entc.go generates the ent client and, through the entgql extension, the
// GraphQL types of every entity (graph/ent.graphqls). Run from the module root
// by generate.go.
package main

import (
	"fmt"
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"entgo.io/ent/schema"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("graph/ent.graphqls"),
		entgql.WithConfigPath("gqlgen.yml"),
		entgql.WithWhereInputs(true),
		entgql.WithRelaySpec(true),
		entgql.WithSchemaHook(describeTypes),
	)
	if err != nil {
		log.Fatalf("entgql extension: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:  "./ent",
		Package: "github.com/rollcall/rollcall/ent",
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureGlobalID,
			gen.FeatureUpsert,
			gen.FeatureExecQuery,
			gen.FeatureLock,
			gen.FeatureModifier,
			gen.FeatureIntercept,
		},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("generate ent: %v", err)
	}
}

// describeTypes gives each entity's GraphQL type the text of its
// schema.Comment annotation as its description (entgql copies field and
// edge comments, not the entity's).
func describeTypes(g *gen.Graph, s *ast.Schema) error {
	for _, n := range g.Nodes {
		raw, ok := n.Annotations[(&schema.CommentAnnotation{}).Name()].(map[string]any)
		if !ok {
			continue
		}
		name := n.Name
		if a, ok := n.Annotations[entgql.Annotation{}.Name()]; ok {
			var ant entgql.Annotation
			if err := ant.Decode(a); err != nil {
				return fmt.Errorf("%s: %w", n.Name, err)
			}
			if ant.Type != "" {
				name = ant.Type
			}
		}
		if def := s.Types[name]; def != nil {
			def.Description, _ = raw["Text"].(string)
		}
	}
	return nil
}
