package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rollcall/rollcall/ent"
	"github.com/rollcall/rollcall/ent/privacy"
	"github.com/rollcall/rollcall/internal/apperr"
)

// resolverError marks an error returned by a resolver (as opposed to one
// gqlgen raised while reading the request), so an unexpected one is reported
// as INTERNAL rather than blamed on the client.
type resolverError struct{ err error }

func (e resolverError) Error() string { return e.err.Error() }
func (e resolverError) Unwrap() error { return e.err }

// markResolverErrors wraps every resolver's error in resolverError.
func markResolverErrors(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if err != nil {
		var gqlErr *gqlerror.Error
		if !errors.As(err, &gqlErr) || gqlErr.Err != nil {
			err = resolverError{err}
		}
	}
	return res, err
}

// presentError turns any error into the public shape (docs/api.md): a safe message
// and extensions.code (plus extensions.field for bad input). This is the only
// place where errors become codes. Unexpected errors are logged here, once,
// and shown as INTERNAL without their text.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		out := graphql.DefaultErrorPresenter(ctx, err)
		code, message, field := classify(err, out)
		switch stop, clientLeft, halted := stopped(ctx, err); {
		case code != apperr.Internal:
		case halted:
			// The operation ran out of time or its client left: say so,
			// and log it as no fault of ours.
			if !clientLeft {
				log.WarnContext(ctx, "operation timed out", slog.String("error", err.Error()), slog.String("path", out.Path.String()))
			}
			message = stop
		default:
			log.ErrorContext(ctx, "request failed", slog.String("error", err.Error()), slog.String("path", out.Path.String()))
			message = "internal error"
		}
		out.Message = message
		out.Extensions = map[string]any{"code": string(code)}
		if field != "" {
			out.Extensions["field"] = field
		}
		return out
	}
}

func classify(err error, presented *gqlerror.Error) (code apperr.Code, message, field string) {
	var (
		appErr *apperr.Error
		valErr *ent.ValidationError
	)
	switch {
	case errors.As(err, &appErr):
		return appErr.Code, appErr.Message, appErr.Field
	case ent.IsNotFound(err):
		return apperr.NotFound, "not found", ""
	case errors.Is(err, privacy.Deny):
		return apperr.Forbidden, "not allowed", ""
	case errors.As(err, &valErr):
		return apperr.BadUserInput, fmt.Sprintf("invalid value for %s", valErr.Name), valErr.Name
	case ent.IsConstraintError(err):
		return apperr.Conflict, "conflicts with existing data", ""
	case errors.As(err, &resolverError{}), errors.As(err, &timeoutError{}):
		return apperr.Internal, "", ""
	default:
		// Raised by gqlgen itself: a parse or validation failure, a bad
		// variable or argument, a query over the limits.
		return apperr.BadUserInput, presented.Message, ""
	}
}

// recoverPanic logs a resolver's panic and reports it as INTERNAL.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "resolver panicked", slog.Any("panic", p))
		return resolverError{fmt.Errorf("panic: %v", p)}
	}
}
