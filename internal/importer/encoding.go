package importer

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Names Stats.Encoding reports.
const (
	EncodingUTF8        = "UTF-8"
	EncodingWindows1252 = "windows-1252"
	EncodingLatin1      = "ISO-8859-1"
)

// bom is the UTF-8 byte order mark.
var bom = []byte("\xEF\xBB\xBF")

// How readLine turns a physical line into UTF-8.
type textMode int

const (
	// modeDetect: every line so far was ASCII; the first line that is not
	// decides between UTF-8 and the legacy single-byte encodings.
	modeDetect textMode = iota
	// modeUTF8: lines must be valid UTF-8 (found, given, or decoded already).
	modeUTF8
	// modeLegacy: lines are Windows-1252 (of which ISO-8859-1's printable
	// characters are a subset) and are decoded.
	modeLegacy
)

// legacyRunes maps the bytes 0x80-0xFF to characters: Windows-1252 where it
// defines them; its five holes (0x81, 0x8D, 0x8F, 0x90, 0x9D) as ISO-8859-1
// reads them, C1 control characters, which the text rule then refuses with
// their code.
var legacyRunes = func() (t [128]rune) {
	for i := range t {
		b := byte(0x80 + i)
		if r := charmap.Windows1252.DecodeByte(b); r != utf8.RuneError {
			t[i] = r
		} else {
			t[i] = charmap.ISO8859_1.DecodeByte(b)
		}
	}
	return t
}()

// LookupEncoding resolves an encoding name as given in the encoding
// argument: an IANA name or alias ("ISO-8859-1", "latin1", "windows-1252",
// "UTF-8", "UTF-16"...) or a WHATWG label ("cp1252", "utf8"...), any case,
// spaces and underscores read as dashes. It returns the encoding and its
// preferred name; a blank name returns nil (detect). An unknown or
// unsupported name is an *InputError on the field "encoding".
func LookupEncoding(name string) (encoding.Encoding, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, "", nil
	}
	candidates := []string{name}
	if alt := strings.NewReplacer(" ", "-", "_", "-").Replace(name); alt != name {
		candidates = append(candidates, alt)
	}
	registered := false
	for _, n := range candidates {
		e, err := ianaindex.IANA.Encoding(n)
		if err == nil {
			registered = true
		}
		if e == nil {
			if e, err = htmlindex.Get(n); err != nil {
				continue
			}
		}
		return e, encodingName(e, n), nil
	}
	shown := clipEmail(strings.ToValidUTF8(name, "?"))
	if registered {
		return nil, "", &InputError{Field: "encoding", Message: fmt.Sprintf(
			"encoding %q is not supported: give UTF-8, windows-1252, ISO-8859-1 or another common encoding, or leave it out to detect it", shown)}
	}
	return nil, "", &InputError{Field: "encoding", Message: fmt.Sprintf(
		"unknown encoding %q: give a name such as UTF-8, windows-1252 or ISO-8859-1 (latin1), or leave it out to detect it", shown)}
}

// encodingName is e's preferred MIME or IANA name, else given.
func encodingName(e encoding.Encoding, given string) string {
	if e == unicode.UTF8 {
		return EncodingUTF8
	}
	for _, idx := range []*ianaindex.Index{ianaindex.MIME, ianaindex.IANA} {
		if n, err := idx.Name(e); err == nil && n != "" {
			if n == "ISO_8859-1:1987" {
				return EncodingLatin1
			}
			return n
		}
	}
	if n, err := htmlindex.Name(e); err == nil {
		return n
	}
	return given
}

// setSource chooses how the file's bytes become text. Without an encoding a
// UTF-16 file (Excel's "Unicode text") is recognised by its byte order mark
// and decoded; any other file is read line by line, the first line that is
// not ASCII deciding between UTF-8 and Windows-1252/ISO-8859-1 (readLine).
// A given UTF-8 is checked line by line; any other given encoding is
// decoded as the file is read. A file that starts with a UTF-8 byte order
// mark is refused with another encoding given: it is UTF-8.
func (p *csvParser) setSource(raw *bufio.Reader, enc encoding.Encoding, name string) error {
	head, _ := raw.Peek(len(bom)) // read errors are reported by run
	switch {
	case enc == nil && (bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF})):
		p.encoding = "UTF-16LE"
		if head[0] == 0xFE {
			p.encoding = "UTF-16BE"
		}
		dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
		p.br, p.mode = bufio.NewReaderSize(transform.NewReader(raw, dec), readBufferBytes), modeUTF8
	case enc == nil:
		p.br, p.mode = raw, modeDetect
	case enc == unicode.UTF8:
		p.br, p.mode, p.encoding, p.given = raw, modeUTF8, EncodingUTF8, true
	case bytes.HasPrefix(head, bom):
		return &InputError{Field: "encoding", Message: fmt.Sprintf(
			"the file starts with a UTF-8 byte order mark, so it is UTF-8, not %s: leave encoding out or give UTF-8", name)}
	default:
		p.br = bufio.NewReaderSize(transform.NewReader(raw, enc.NewDecoder()), readBufferBytes)
		p.mode, p.encoding, p.given = modeUTF8, name, true
	}
	return nil
}

// text turns a physical line (without its line break) into UTF-8, or says
// why it cannot.
func (p *csvParser) text(line []byte) ([]byte, error) {
	if p.mode == modeDetect && !isASCII(line) {
		if utf8.Valid(line) {
			p.mode = modeUTF8
		} else {
			p.mode = modeLegacy
		}
	}
	switch p.mode {
	case modeUTF8:
		if utf8.Valid(line) {
			return line, nil
		}
		msg := fmt.Sprintf("line %d is not UTF-8 (save the file as UTF-8)", p.line)
		switch {
		case p.given:
			msg = fmt.Sprintf("line %d is not %s: give the file's encoding (such as windows-1252), or leave encoding out to detect it", p.line, p.encoding)
		case p.encoding == "":
			msg = fmt.Sprintf("line %d is not UTF-8 though the lines before it are: save the file as UTF-8, or give its encoding (such as windows-1252)", p.line)
		}
		return nil, &FileError{Line: p.line, Message: msg}
	case modeLegacy:
		p.decoded = p.decoded[:0]
		for _, b := range line {
			if b < utf8.RuneSelf {
				p.decoded = append(p.decoded, b)
				continue
			}
			if b <= 0x9F {
				p.c1 = true
			}
			p.decoded = utf8.AppendRune(p.decoded, legacyRunes[b-0x80])
		}
		return p.decoded, nil
	}
	return line, nil
}

// encodingRead is the encoding the file was read in, for Stats.
func (p *csvParser) encodingRead() string {
	switch {
	case p.encoding != "":
		return p.encoding
	case p.mode == modeLegacy && p.c1:
		return EncodingWindows1252 // it uses characters only Windows-1252 has
	case p.mode == modeLegacy:
		return EncodingLatin1 // identical to Windows-1252 for these characters
	}
	return EncodingUTF8 // ASCII is UTF-8 too
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
