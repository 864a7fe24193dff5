package importer

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/rollcall/rollcall/internal/emailaddr"
	"github.com/rollcall/rollcall/internal/plaintext"
	"github.com/rollcall/rollcall/internal/username"
)

// fuzzResult is everything Parse reported, in order.
type fuzzResult struct {
	lines []int // the line of every row and row error, in the order reported
	rows  []Row
	errs  []RowError
	stats Stats
	err   error
}

func fuzzParse(data []byte, limits Limits, oneByte bool) fuzzResult {
	var res fuzzResult
	r := bytes.NewReader(data)
	var src io.Reader = r
	if oneByte {
		src = iotest.OneByteReader(r)
	}
	res.stats, res.err = Parse(src, limits, rowErrorChecks(),
		func(row Row) error {
			res.rows = append(res.rows, row)
			res.lines = append(res.lines, row.Line)
			return nil
		},
		func(e RowError) error {
			res.errs = append(res.errs, e)
			res.lines = append(res.lines, e.Line)
			return nil
		})
	return res
}

// FuzzCSV runs the CSV parser on any bytes, with small line and row limits
// chosen by the fuzzer, and checks what it promises beyond not panicking:
//   - every row and row error names a line of the file (after the header),
//     in file order, and a file error names a line of the file or none;
//   - without a file error the counts add up;
//   - accepted cells hold nothing the text rule refuses: the address passes
//     Normalize unchanged, names, role and products pass the rule for names
//     and their length limits, the username passes its rule; no address is
//     accepted twice;
//   - what is reported back (row errors' addresses and messages, file error
//     messages) carries no refused character either;
//   - reading the file one byte at a time gives the same answer.
//
// Run it for minutes with:
//
//	go test ./internal/importer -run '^$' -fuzz '^FuzzCSV$' -fuzztime 10m
func FuzzCSV(f *testing.F) {
	for _, c := range validFileCases() {
		f.Add([]byte(c.in), uint16(0), uint16(0))
	}
	for _, c := range rowErrorCases() {
		f.Add([]byte(rowErrorFile(c.cells)), uint16(0), uint16(0))
	}
	for _, c := range fileErrorCases() {
		if len(c.in) > 64<<10 {
			continue // the fuzzer's inputs stay small; the line limit stands in
		}
		f.Add([]byte(c.in), uint16(c.limits.MaxLineBytes), uint16(c.limits.MaxRows))
	}
	f.Add([]byte("email,first name\n\"ada@example.com\",\"A\"\"da\" x,\n\"bob@example.com\r\n\",Bob\n"), uint16(40), uint16(0))
	f.Add([]byte("email;role\r\nada@example.com;\"Mem\r\nber\"\r\nada@EXAMPLE.com;Admin\r\n"), uint16(0), uint16(1))
	f.Add([]byte("\xEF\xBB\xBFsep=\t\nemail\tfirst name\nada@example.com\t\u202Eada\n"), uint16(0), uint16(0))

	f.Fuzz(func(t *testing.T, data []byte, maxLine, maxRows uint16) {
		limits := Limits{MaxBytes: 1 << 20, MaxLineBytes: int(maxLine), MaxRows: int(maxRows)}
		res := fuzzParse(data, limits, false)
		fileLines := bytes.Count(data, []byte("\n")) + 1

		prev := 1 // the header is line 1 at least
		for _, l := range res.lines {
			if l <= prev || l > fileLines {
				t.Fatalf("a row on line %d after line %d, in a file of %d lines", l, prev, fileLines)
			}
			prev = l
		}
		var fe *FileError
		switch {
		case res.err == nil:
			if res.stats.Valid != len(res.rows) || res.stats.Rejected != len(res.errs) || res.stats.Rows != res.stats.Valid+res.stats.Rejected {
				t.Fatalf("stats %+v for %d rows and %d errors", res.stats, len(res.rows), len(res.errs))
			}
		case errors.As(res.err, &fe):
			if fe.Line < 0 || fe.Line > fileLines || fe.Message == "" {
				t.Fatalf("file error %+v in a file of %d lines", fe, fileLines)
			}
			if err := plaintext.Check(plaintext.Name, fe.Message); err != nil {
				t.Fatalf("file error %q: %v", fe.Message, err)
			}
		default:
			t.Fatalf("error that is no FileError: %v", res.err)
		}

		seen := map[string]bool{}
		for _, r := range res.rows {
			addr, norm, err := emailaddr.Normalize(r.Email)
			if err != nil || addr != r.Email || norm != r.Normalized {
				t.Fatalf("accepted address %q (%q) normalizes to %q, %q, %v", r.Email, r.Normalized, addr, norm, err)
			}
			if seen[norm] {
				t.Fatalf("address %q accepted twice", norm)
			}
			seen[norm] = true
			for what, v := range map[string]*string{"first name": r.FirstName, "last name": r.LastName, "role": r.Role} {
				if v == nil {
					continue
				}
				max := MaxNameLength
				if what == "role" {
					max = MaxRoleLength
				}
				acceptedText(t, what, *v, max)
			}
			if r.Username != nil {
				if err := username.Check(*r.Username); err != nil || *r.Username != strings.TrimSpace(*r.Username) {
					t.Fatalf("accepted username %q: %v", *r.Username, err)
				}
			}
			for _, p := range r.Products {
				acceptedText(t, "product", p, MaxProductLength)
				if strings.Contains(p, "|") {
					t.Fatalf("accepted product %q holds a separator", p)
				}
			}
		}
		for _, e := range res.errs {
			if err := plaintext.Check(plaintext.Address, e.Email); err != nil || len(e.Email) > maxErrorEmailBytes {
				t.Fatalf("row error address %q (%d bytes): %v", e.Email, len(e.Email), err)
			}
			if err := plaintext.Check(plaintext.Name, e.Message); err != nil || e.Message == "" {
				t.Fatalf("row error message %q: %v", e.Message, err)
			}
		}

		again := fuzzParse(data, limits, true)
		if !reflect.DeepEqual(res, again) {
			t.Fatalf("read one byte at a time, the file gives\n%+v\ninstead of\n%+v", again, res)
		}
	})
}

// acceptedText fails t unless an accepted cell is non-empty, trimmed, at
// most max characters and free of refused characters.
func acceptedText(t *testing.T, what, v string, max int) {
	t.Helper()
	if v == "" || v != strings.TrimSpace(v) || utf8.RuneCountInString(v) > max {
		t.Fatalf("accepted %s %q is empty, untrimmed or too long", what, v)
	}
	if err := plaintext.Check(plaintext.Name, v); err != nil {
		t.Fatalf("accepted %s %q: %v", what, v, err)
	}
}
