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
func Variables() []Variable {
	all := Kinds
	return []Variable{
		{"FirstName", "The recipient's first name; may be empty, so test it with {{if .FirstName}}.", all()},
		{"LastName", "The recipient's last name; may be empty.", all()},
		{"FullName", `The recipient's first and last name ("Ada Lovelace"), whichever of them is known, or empty.`, all()},
		{"Email", "The recipient's email address.", all()},
		{"Username", "The name the recipient signs in with; may be empty.", all()},
		{"OrganizationName", "The name of your organisation.", all()},
		{"RoleName", "The recipient's role in the organisation; may be empty.", all()},
		{"InviterName", "The name of the person who sent the invitation; may be empty.", []Kind{Invitation}},
		{"ActionURL", "The recipient's personal link: accept the invitation, choose a new password or sign in.", all()},
		{"ExpiresAt", `When the link or password expires, e.g. "Monday 9 March 2026, 09:00 UTC"; may be empty.`, all()},
		{"ExpiresIn", `How long until the link or password expires, e.g. "7 days" or "1 hour"; may be empty.`, all()},
		{"TemporaryPassword", "The temporary password to sign in with.", []Kind{TemporaryPassword}},
		{"ReplyTo", "Your organisation's reply-to email address; may be empty.", all()},
	}
}

// lookupVariable returns the variable called name.
func lookupVariable(name string) (Variable, bool) {
	for _, v := range Variables() {
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
