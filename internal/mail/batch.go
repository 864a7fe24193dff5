package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// MaxBatch is the most recipients one batch may have (Mailgun's limit).
const MaxBatch = 1000

// Recipient is one addressee of a Batch with the values of its recipient variables.
// Values are substituted verbatim: escape those used in HTML yourself.
type Recipient struct {
	To     Address
	Values map[string]string // referenced as %recipient.NAME% in Subject, Text, HTML and Variables
}

// Batch is one message sent to many recipients: each receives a copy addressed
// to them alone, with %recipient.NAME% replaced by their own Values.
type Batch struct {
	From       Address
	ReplyTo    string
	Subject    string
	Text       string
	HTML       string
	Recipients []Recipient       // 1..MaxBatch
	Variables  map[string]string // custom variables ("v:KEY"); values may reference %recipient.NAME%, e.g. "delivery_id": "%recipient.delivery_id%"
}

// BatchSender sends a Batch in one provider call and returns the provider's
// message id, shared by every copy. Errors are *Error, as for Sender.
type BatchSender interface {
	SendBatch(ctx context.Context, b Batch) (id string, err error)
}

// message is the copy of b that r receives, before substitution.
func (b Batch) message(r Recipient) Message {
	return Message{
		From:      b.From,
		ReplyTo:   b.ReplyTo,
		To:        r.To,
		Subject:   b.Subject,
		Text:      b.Text,
		HTML:      b.HTML,
		Variables: b.Variables,
	}
}

// validate checks b, returning a permanent *Error: 1..MaxBatch recipients with
// distinct addresses, every copy a valid Message (see Message.validate), and
// recipient variables with names and values free of line breaks.
func (b Batch) validate() error {
	switch {
	case len(b.Recipients) == 0:
		return permanent(errors.New("validate batch: no recipients"))
	case len(b.Recipients) > MaxBatch:
		return permanent(fmt.Errorf("validate batch: %d recipients, more than %d", len(b.Recipients), MaxBatch))
	}
	seen := make(map[string]bool, len(b.Recipients))
	for i, r := range b.Recipients {
		if err := b.message(r).validate(); err != nil {
			var e *Error
			if errors.As(err, &e) {
				return permanent(fmt.Errorf("validate batch: copy for recipient %d: %w", i, e.Err))
			}
			return err
		}
		// Mailgun keys recipient variables by address: a repeated address
		// would get one copy at most, with one recipient's values.
		key := strings.ToLower(r.To.Email)
		if seen[key] {
			return permanent(fmt.Errorf("validate batch: recipient %d repeats an earlier address", i))
		}
		seen[key] = true
		for k, v := range r.Values {
			switch {
			case k == "":
				return permanent(fmt.Errorf("validate batch: recipient %d has a value with an empty name", i))
			case strings.ContainsAny(k, "%\r\n"):
				return permanent(fmt.Errorf("validate batch: recipient %d value name %q contains %% or a line break", i, k))
			case hasLineBreak(v):
				return permanent(fmt.Errorf("validate batch: recipient %d value %q contains a line break", i, k))
			}
		}
	}
	return nil
}
