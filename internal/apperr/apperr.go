// Package apperr defines the errors services return to their callers. Each
// carries a public code and message; the cause, if any, stays internal. The
// GraphQL layer turns them into extensions.code in one place.
package apperr

import (
	"errors"
	"fmt"
)

// Code is a public error code (docs/api.md, Errors).
type Code string

// The codes a client can act on.
const (
	Unauthenticated Code = "UNAUTHENTICATED"
	Forbidden       Code = "FORBIDDEN"
	BadUserInput    Code = "BAD_USER_INPUT"
	NotFound        Code = "NOT_FOUND"
	Conflict        Code = "CONFLICT"
	InvalidToken    Code = "INVALID_TOKEN"
	TokenExpired    Code = "TOKEN_EXPIRED"
	RateLimited     Code = "RATE_LIMITED"
	Internal        Code = "INTERNAL"
	// PersistedQueryNotFound: a hash alone was sent that no replica knows;
	// send it again with the document (Apollo's automatic persisted queries).
	PersistedQueryNotFound Code = "PERSISTED_QUERY_NOT_FOUND"
	// PersistedQueryNotAllowed: the server runs only its operator's
	// persisted documents, and this is not one.
	PersistedQueryNotAllowed Code = "PERSISTED_QUERY_NOT_ALLOWED"
)

// Error is an error with a public code and message. Field names the input
// field at fault, when one is.
type Error struct {
	Code    Code
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// New returns an error with code and message.
func New(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// Invalid reports bad input in one field.
func Invalid(field, message string) *Error {
	return &Error{Code: BadUserInput, Message: message, Field: field}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Is reports whether err carries code.
func Is(err error, code Code) bool {
	e, ok := As(err)
	return ok && e.Code == code
}
