// Package enum holds enum types that more than one entity shares, so the
// generated GraphQL enum and its filters have a single Go type.
package enum

import (
	"fmt"
	"io"
	"slices"
	"strconv"
)

// DeliveryStatus is the state of one email to one person, as recorded on the
// Delivery and copied to the person's lastEmailStatus.
type DeliveryStatus string

// Delivery states.
const (
	DeliveryQueued     DeliveryStatus = "QUEUED"
	DeliverySent       DeliveryStatus = "SENT"
	DeliveryDelivered  DeliveryStatus = "DELIVERED"
	DeliveryFailed     DeliveryStatus = "FAILED"
	DeliveryBounced    DeliveryStatus = "BOUNCED"
	DeliveryComplained DeliveryStatus = "COMPLAINED"
	DeliverySkipped    DeliveryStatus = "SKIPPED"
)

// Values lists every state; ent uses it for the column's allowed values.
func (DeliveryStatus) Values() []string {
	return []string{"QUEUED", "SENT", "DELIVERED", "FAILED", "BOUNCED", "COMPLAINED", "SKIPPED"}
}

// String returns the state's name.
func (s DeliveryStatus) String() string { return string(s) }

// MarshalGQL writes the state as a GraphQL enum value.
func (s DeliveryStatus) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(s))) }

// UnmarshalGQL reads a GraphQL enum value.
func (s *DeliveryStatus) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok || !slices.Contains(s.Values(), str) {
		return fmt.Errorf("%v is not a valid DeliveryStatus", v)
	}
	*s = DeliveryStatus(str)
	return nil
}
