package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// UserImport is one CSV import; the people it created or updated link to it.
// ("Import" is a Go keyword, so GraphQL names it Import.)
type UserImport struct{ ent.Schema }

// Fields of the UserImport.
func (UserImport) Fields() []ent.Field {
	return []ent.Field{
		field.String("filename").Default("").MaxLen(500).
			Comment("The uploaded file's name (empty when it had none)."),
		field.Int("created_by_id").Optional().Nillable().Immutable().
			Comment("The person who imported; null once erased."),
		field.Int("created").Default(0).Comment("People the file created."),
		field.Int("updated").Default(0).Comment("People the file changed."),
		field.Int("unchanged").Default(0).Comment("People the file named who needed no change."),
		field.Int("rejected").Default(0).Comment("Rows refused (bad address, unknown role, …)."),
		field.Bool("dry_run").Default(false).Immutable(),
		field.Time("finished_at").Optional().Nillable(),
	}
}

// Edges of the UserImport.
func (UserImport) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("created_by", User.Type).Field("created_by_id").Unique().Immutable().
			Comment("The person who imported; null once erased.").
			Annotations(setNull()),
		edge.From("users", User.Type).Ref("import").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Mixin of the UserImport.
func (UserImport) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

// Policy of the UserImport.
func (UserImport) Policy() ent.Policy { return managedBy(permPeopleManage) }

// Annotations of the UserImport.
func (UserImport) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One CSV import (importUsers or the CLI's import) and what it did; select its people with users(where: {hasImportWith: {id: …}})."),
		entgql.Type("Import"),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
