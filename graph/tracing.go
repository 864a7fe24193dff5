package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracer puts a span around each GraphQL operation and each resolver that
// may reach the database (a resolver function, or a method of an entity:
// edges and counts), inside which ent's traced driver puts its queries. It
// is installed only when tracing is on.
type tracer struct{ t trace.Tracer }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.FieldInterceptor
} = tracer{}

func (tracer) ExtensionName() string                   { return "OpenTelemetry" }
func (tracer) Validate(graphql.ExecutableSchema) error { return nil }

func (t tracer) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	kind, opName := "query", oc.OperationName
	if oc.Operation != nil {
		kind, opName = string(oc.Operation.Operation), oc.Operation.Name
	}
	name := "graphql " + kind
	if opName != "" {
		name += " " + opName
	}
	ctx, span := t.t.Start(ctx, name, trace.WithAttributes(
		attribute.String("graphql.operation.type", kind),
		attribute.String("graphql.operation.name", opName),
	))
	// A stream's span lasts until it ends; the client may leave first.
	context.AfterFunc(ctx, func() { span.End() })
	responses := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if resp != nil && len(resp.Errors) > 0 {
			span.SetStatus(codes.Error, resp.Errors[0].Message)
		}
		if resp == nil || (kind != "subscription" && (resp.HasNext == nil || !*resp.HasNext)) {
			span.End()
		}
		return resp
	}
}

func (t tracer) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || (!fc.IsResolver && !fc.IsMethod) {
		return next(ctx)
	}
	ctx, span := t.t.Start(ctx, "graphql resolve "+fc.Object+"."+fc.Field.Name,
		trace.WithAttributes(attribute.String("graphql.field.path", fc.Path().String())))
	res, err := next(ctx)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	return res, err
}
