package schema

import (
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
)

func cascade() schema.Annotation { return entsql.OnDelete(entsql.Cascade) }
func setNull() schema.Annotation { return entsql.OnDelete(entsql.SetNull) }
