package importer

// A spreadsheet runs a cell that starts with =, +, - or @ (and some read a
// leading tab or carriage return the same way) as a formula, so the export
// writes such cells behind an apostrophe, as OWASP advises against CSV
// injection. The importer takes that apostrophe off again, so that an
// exported file imports back unchanged: +tasha@corp.example leaves as
// '+tasha@corp.example and comes back as +tasha@corp.example.
//
// For the round trip to hold for every value, the guard also covers values
// that already start with apostrophes followed by a formula character: a
// stored '=x is written ''=x and read back as '=x. A value that does not
// start that way is written and read as it is. So Unguard(Guard(s)) == s for
// every s, and a cell Guard wrote never starts with a formula character.

// formulaStart reports whether c makes a spreadsheet read a cell as a
// formula.
func formulaStart(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// guarded reports whether s is apostrophes (at least min) followed by a
// formula character.
func guarded(s string, min int) bool {
	i := 0
	for i < len(s) && s[i] == '\'' {
		i++
	}
	return i >= min && i < len(s) && formulaStart(s[i])
}

// Guard returns s as a spreadsheet cell: behind an apostrophe when s, after
// any apostrophes it starts with, starts with =, +, -, @, a tab or a
// carriage return; else unchanged.
func Guard(s string) string {
	if guarded(s, 0) {
		return "'" + s
	}
	return s
}

// Unguard undoes Guard: it drops the first apostrophe of a cell that is one
// or more apostrophes followed by a formula character, and leaves any other
// cell unchanged.
func Unguard(s string) string {
	if guarded(s, 1) {
		return s[1:]
	}
	return s
}
