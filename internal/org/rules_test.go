package org

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/apperr"
)

// requireInvalid checks err is BAD_USER_INPUT on field with want in its
// message; an empty field means no error.
func requireInvalid(t *testing.T, err error, field, want string) {
	t.Helper()
	if field == "" {
		require.NoError(t, err)
		return
	}
	var e *apperr.Error
	require.True(t, errors.As(err, &e), "want BAD_USER_INPUT on %s, got %v", field, err)
	require.Equal(t, apperr.BadUserInput, e.Code, e.Message)
	require.Equal(t, field, e.Field)
	require.Contains(t, e.Message, want)
}

func ptr[T any](v T) *T { return &v }

// TestCheckName: an organisation's name goes into email subjects: one line,
// 1 to 200 bytes.
func TestCheckName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"Acme", ""},
		{"Acme & Sons, Ltd.", ""},
		{strings.Repeat("a", 200), ""},
		{"", "a name has 1 to 200 characters"},
		{strings.Repeat("a", 201), "a name has 1 to 200 characters"},
		{"Acme\r\nBcc: x@example.com", "the organisation name contains a line break"},
		{"Acme\u202e", "the organisation name contains a bidirectional"},
	} {
		field := ""
		if c.want != "" {
			field = "name"
		}
		requireInvalid(t, checkName(c.in), field, c.want)
	}
}

// TestCleanSlug: a slug is trimmed and lower-cased, then must be letters,
// digits and dashes.
func TestCleanSlug(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{" Acme ", "acme"},
		{"acme-2", "acme-2"},
	} {
		got, err := cleanSlug(c.in)
		require.NoError(t, err)
		require.Equal(t, c.want, got)
	}
	for _, in := range []string{"", "acme corp", "acme_corp", "acme/..", "ácme"} {
		_, err := cleanSlug(in)
		requireInvalid(t, err, "slug", "slug must be lower-case letters, digits and dashes")
	}
}

// TestCleanProducts: product names are trimmed, checked and de-duplicated;
// at most 100 of them.
func TestCleanProducts(t *testing.T) {
	t.Parallel()
	got, err := cleanProducts([]string{" crm ", "wiki", "crm", "CRM"})
	require.NoError(t, err)
	require.Equal(t, []string{"crm", "wiki", "CRM"}, got)
	got, err = cleanProducts(nil)
	require.NoError(t, err)
	require.Equal(t, []string{}, got, "no products, not unchanged")
	var hundred, more []string
	for i := range 100 {
		hundred = append(hundred, fmt.Sprint("p", i))
	}
	more = append(append(more, hundred...), "p100")
	_, err = cleanProducts(append(hundred, "p0"))
	require.NoError(t, err, "100 once repeats are dropped")
	for _, c := range []struct {
		name string
		in   []string
		want string
	}{
		{"empty", []string{"crm", " "}, "a product name has 1 to 100 characters"},
		{"too long", []string{strings.Repeat("p", 101)}, "a product name has 1 to 100 characters"},
		{"a tab", []string{"c\trm"}, "a product name contains a tab"},
		{"101 products", more, "at most 100 products"},
	} {
		_, err := cleanProducts(c.in)
		requireInvalid(t, err, "products", c.want)
	}
}

// TestCheckTTL: a link lives from 1 second to 30 days; nil leaves it.
func TestCheckTTL(t *testing.T) {
	t.Parallel()
	for _, v := range []*int{nil, ptr(1), ptr(3600), ptr(MaxTTLSeconds)} {
		require.NoError(t, checkTTL("resetTTLSeconds", v))
	}
	for _, v := range []int{0, -1, MaxTTLSeconds + 1} {
		requireInvalid(t, checkTTL("resetTTLSeconds", &v), "resetTTLSeconds", "must be from 1 to 2592000 seconds (30 days)")
	}
}

// TestCheckSenderName: the sender name goes into every From header: one
// line, at most 200 bytes; empty is the default.
func TestCheckSenderName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"Acme People", ""},
		{strings.Repeat("a", 200), ""},
		{strings.Repeat("a", 201), "a sender name has at most 200 characters on one line"},
		{"Acme\nPeople", "the sender name contains a line break"},
		{"Acme\u200b", "the sender name contains an invisible"},
	} {
		field := ""
		if c.want != "" {
			field = "emailFromName"
		}
		requireInvalid(t, checkSenderName(c.in), field, c.want)
	}
}

// TestCleanReplyTo: a blank reply-to clears it; any other must be an
// address, kept as written.
func TestCleanReplyTo(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{" HR@Acme.test ", "HR@Acme.test"},
	} {
		got, err := cleanReplyTo(c.in)
		require.NoError(t, err)
		require.Equal(t, c.want, got)
	}
	for _, in := range []string{"hr", "hr@acme.test\r\nBcc: x@example.com", "Acme <hr@acme.test>"} {
		_, err := cleanReplyTo(in)
		requireInvalid(t, err, "replyTo", "")
	}
}
