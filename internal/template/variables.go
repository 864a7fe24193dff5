package template

import (
	"fmt"
	"slices"
	"strings"
)

// Variable documents one field of Data for admins.
type Variable struct {
	// Name is the name as written in a template: "FirstName" for {{.FirstName}}.
	Name string
	// Description says what the value is, for admins.
	Description string
	// Kinds lists the kinds of template that may use the variable.
	Kinds []Kind
}

// Variables lists the variables templates may use, one per field of Data, in the
// order of Data. The slice is new on every call.
//
// ActionURL and TemporaryPassword are secrets: {{.ActionURL}} may stand only as
// the whole href of a link (<a href="{{.ActionURL}}">) or alone in text,
// {{.TemporaryPassword}} only alone in text, and neither in a subject (see
// Validate).
func Variables() []Variable {
	all := Kinds
	personal := func() []Kind { return []Kind{Invitation, PasswordReset, TemporaryPassword, Reminder} }
	return []Variable{
		{"FirstName", "The recipient's first name; may be empty, so test it with {{if .FirstName}}.", all()},
		{"LastName", "The recipient's last name; may be empty.", all()},
		{"FullName", `The recipient's first and last name ("Ada Lovelace"), whichever of them is known, or empty.`, all()},
		{"Email", "The recipient's email address (in EMAIL_CHANGED, the old address, which the email goes to).", all()},
		{"NewEmail", "The recipient's new email address; only in EMAIL_CHANGED, which is sent to the old one.", []Kind{EmailChanged}},
		{"Username", "The name the recipient signs in with; may be empty.", all()},
		{"OrganizationName", "The name of your organisation.", all()},
		{"RoleName", "The recipient's role in the organisation; may be empty.", all()},
		{"InviterName", "The name of the person who sent the invitation; may be empty (always in reminder rounds, which nobody in particular sends).", []Kind{Invitation, Reminder}},
		{"ActionURL", `The recipient's personal link: accept the invitation, choose a new password or sign in. ` +
			`A secret: it may only be the whole href of a link (<a href="{{.ActionURL}}">) or stand alone in text, ` +
			`never in the subject.`, personal()},
		{"ExpiresAt", `When the link or password expires, written in the email's language, e.g. "Monday 9 March 2026, 09:00 UTC" ` +
			`or "Montag, 9. März 2026, 09:00 Uhr UTC"; may be empty.`, personal()},
		{"ExpiresIn", `How long until the link or password expires, in the email's language, e.g. "7 days", "1 hour" or "7 Tage"; may be empty.`, personal()},
		{"TemporaryPassword", "The temporary password to sign in with. A secret: it may only stand alone in text, " +
			"never in an attribute or the subject.", []Kind{TemporaryPassword}},
		{"ReplyTo", "Your organisation's reply-to email address; may be empty.", all()},
		{"SignInURL", `Where your people sign in (the organisation's signInURL), an http or https URL; may be empty, so test it ` +
			`with {{if .SignInURL}}. It may be the whole href of a link (<a href="{{.SignInURL}}">).`, all()},
	}
}

// secret reports whether the variable called name is a secret: a person's
// link or password, which may stand only where Validate allows.
func secret(name string) bool {
	return name == "ActionURL" || name == "TemporaryPassword"
}

// signInURL is the variable of the organisation's sign-in page, which may
// be a link's whole href.
const signInURL = "SignInURL"

// secrets lists the secret variables, for mentions and tested.
func secrets() []string { return []string{"ActionURL", "TemporaryPassword"} }

// lookupVariable returns the variable called name among vars (Variables).
func lookupVariable(vars []Variable, name string) (Variable, bool) {
	for _, v := range vars {
		if v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}

// unknownVariable is the message for a reference to a variable Data lacks.
func unknownVariable(k Kind, name string) string {
	var known []string
	hint := ""
	for _, v := range Variables() {
		if strings.EqualFold(v.Name, name) {
			hint = fmt.Sprintf(" (did you mean %q?)", v.Name)
		}
		if slices.Contains(v.Kinds, k) {
			known = append(known, v.Name)
		}
	}
	return fmt.Sprintf("unknown variable %q%s; known variables are %s", name, hint, strings.Join(known, ", "))
}
