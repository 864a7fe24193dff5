// Package password holds the rules for passwords people choose.
package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MinLength is the shortest password accepted, in characters (runes).
const MinLength = 10

// MaxBytes is the longest password accepted, in bytes.
const MaxBytes = 256

// Rule names, as found in RuleError.Rule.
const (
	RuleMinLength   = "min_length"
	RuleMaxLength   = "max_length"
	RuleNotEmail    = "not_email"
	RuleNotUsername = "not_username"
	RuleNotCommon   = "not_common"
)

// commonGz is the gzip-compressed, lower-cased, sorted list of common
// passwords of at least MinLength characters, one per line (see SOURCE.md).
//
//go:embed common.txt.gz
var commonGz []byte

// RuleError names the rule a password breaks.
type RuleError struct {
	// Rule is a stable machine-readable name, one of the Rule* constants.
	Rule string
	// Message is a short human sentence explaining the rule.
	Message string
}

// Error returns the human message.
func (e *RuleError) Error() string { return e.Message }

// Policy checks passwords people choose. It holds the common-password set;
// build it once with NewPolicy and share it (it is safe for concurrent use).
type Policy struct {
	common map[string]struct{}
}

// NewPolicy loads the embedded common-password list into a new Policy.
func NewPolicy() (*Policy, error) {
	zr, err := gzip.NewReader(bytes.NewReader(commonGz))
	if err != nil {
		return nil, fmt.Errorf("password: open common list: %w", err)
	}
	defer zr.Close()
	common := make(map[string]struct{}, 120_000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			common[line] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("password: read common list: %w", err)
	}
	if len(common) == 0 {
		return nil, fmt.Errorf("password: common list is empty")
	}
	return &Policy{common: common}, nil
}

// Check returns a *RuleError for the first rule password breaks, or nil.
// Rules, in order: at least MinLength characters (runes); at most MaxBytes
// bytes; not equal (case-insensitively, ignoring surrounding spaces) to the
// email, the email's local part, or the username; not in the common-password
// list (case-insensitively, also after trimming surrounding spaces).
// Empty email or username values are ignored.
func (p *Policy) Check(password, email, username string) error {
	if utf8.RuneCountInString(password) < MinLength {
		return &RuleError{Rule: RuleMinLength, Message: fmt.Sprintf("password must be at least %d characters long", MinLength)}
	}
	if len(password) > MaxBytes {
		return &RuleError{Rule: RuleMaxLength, Message: fmt.Sprintf("password must be at most %d bytes long", MaxBytes)}
	}
	trimmed := strings.TrimSpace(password)
	if email = strings.TrimSpace(email); email != "" {
		if strings.EqualFold(trimmed, email) {
			return &RuleError{Rule: RuleNotEmail, Message: "password must not be your email address"}
		}
		if at := strings.LastIndexByte(email, '@'); at > 0 && strings.EqualFold(trimmed, strings.TrimSpace(email[:at])) {
			return &RuleError{Rule: RuleNotEmail, Message: "password must not be the first part of your email address"}
		}
	}
	if username = strings.TrimSpace(username); username != "" && strings.EqualFold(trimmed, username) {
		return &RuleError{Rule: RuleNotUsername, Message: "password must not be your username"}
	}
	if p.isCommon(password) || (trimmed != password && p.isCommon(trimmed)) {
		return &RuleError{Rule: RuleNotCommon, Message: "password is too common; choose a less predictable one"}
	}
	return nil
}

// isCommon reports whether s, lower-cased, is in the common list.
func (p *Policy) isCommon(s string) bool {
	_, ok := p.common[strings.ToLower(s)]
	return ok
}
