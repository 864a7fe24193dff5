// Package docs holds the API's documentation for its users. Its tests keep the
// pages true to the code: every example validates against the schema, every
// operation of the schema is documented, every setting named exists, and every
// link between the repository's pages leads somewhere.
package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v3"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/rollcall/rollcall/graph/generated"
	"github.com/rollcall/rollcall/internal/config"
)

// pages are the documents whose examples, settings and links are checked.
var pages = []string{"api.md", "security.md", "../README.md"}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

func schema() *ast.Schema {
	return generated.NewExecutableSchema(generated.Config{}).Schema()
}

var graphqlBlock = regexp.MustCompile("(?s)```graphql\n(.*?)```")

// TestExamplesValidate parses and validates every GraphQL example of the
// pages against the schema, so a renamed field or argument shows here.
func TestExamplesValidate(t *testing.T) {
	t.Parallel()
	s := schema()
	for _, page := range pages {
		blocks := graphqlBlock.FindAllStringSubmatch(read(t, page), -1)
		if page == "api.md" {
			require.GreaterOrEqual(t, len(blocks), 20, "api.md has an example for each task")
		}
		for _, b := range blocks {
			for _, op := range operations(t, b[1]) {
				_, errs := gqlparser.LoadQuery(s, op)
				require.Empty(t, errs, "%s: example\n%s", page, op)
			}
		}
	}
}

// operations splits an example into documents of one operation each when it
// shows several anonymous ones side by side (as the README does); else it is
// one document.
func operations(t *testing.T, example string) []string {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: example})
	require.NoError(t, err, "example\n%s", example)
	anonymous := slices.ContainsFunc(doc.Operations, func(o *ast.OperationDefinition) bool { return o.Name == "" })
	if len(doc.Operations) < 2 || !anonymous || len(doc.Fragments) > 0 {
		return []string{example}
	}
	runes := []rune(example) // positions count runes
	var out []string
	for _, o := range doc.Operations {
		out = append(out, string(runes[o.Position.Start:end(doc, o, len(runes))]))
	}
	return out
}

// end is where operation o's text ends (in runes): where the next one starts.
func end(doc *ast.QueryDocument, o *ast.OperationDefinition, n int) int {
	for i, other := range doc.Operations {
		if other == o && i+1 < len(doc.Operations) {
			return doc.Operations[i+1].Position.Start
		}
	}
	return n
}

// TestEveryOperationDocumented requires api.md to name every query, mutation
// and subscription of the schema, as `name`.
func TestEveryOperationDocumented(t *testing.T) {
	t.Parallel()
	s := schema()
	doc := read(t, "api.md")
	for _, root := range []*ast.Definition{s.Query, s.Mutation, s.Subscription} {
		for _, f := range root.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			require.True(t, strings.Contains(doc, "`"+f.Name+"`") || strings.Contains(doc, "`"+f.Name+"("),
				"docs/api.md does not document %s.%s", root.Name, f.Name)
		}
	}
}

// TestSettingsExist requires every ROLLCALL_* variable the pages name to be
// a setting of rollcall serve.
func TestSettingsExist(t *testing.T) {
	t.Parallel()
	var known []string
	for _, f := range config.ServeFlags() {
		if f, ok := f.(interface{ GetEnvVars() []string }); ok {
			known = append(known, f.GetEnvVars()...)
		}
	}
	require.Contains(t, known, "ROLLCALL_MAX_COMPLEXITY")
	for _, page := range []string{"api.md", "security.md"} {
		for _, name := range setting.FindAllString(read(t, page), -1) {
			require.Contains(t, known, name, "%s names %s, which is not a setting", page, name)
		}
	}
}

// setting matches the name of a setting.
var setting = regexp.MustCompile(`ROLLCALL_[A-Z0-9_]+`)

// TestDefaultsQuoted requires every row of api.md's tables that names one
// setting to give, in its second column, that setting's default as
// rollcall serve has it, so a changed default shows here. Settings whose
// default is 0 (derived at start-up) are not checked.
func TestDefaultsQuoted(t *testing.T) {
	t.Parallel()
	defaults := map[string]string{}
	for _, f := range config.ServeFlags() {
		var def string
		switch f := f.(type) {
		case *cli.IntFlag:
			def = quote(f.Name, int64(f.Value))
		case *cli.Int64Flag:
			def = quote(f.Name, f.Value)
		case *cli.DurationFlag:
			def = quoteDuration(f.Value)
		}
		if def == "" {
			continue
		}
		for _, env := range f.(interface{ GetEnvVars() []string }).GetEnvVars() {
			defaults[env] = def
		}
	}
	require.Equal(t, "10,000", defaults["ROLLCALL_MAX_WEBSOCKETS"])
	require.Equal(t, "512 KB", defaults["ROLLCALL_MAX_DOCUMENT_BYTES"])
	require.Equal(t, "10 min", defaults["ROLLCALL_IMPORT_TIMEOUT"])
	checked := 0
	for _, line := range strings.Split(read(t, "api.md"), "\n") {
		names := setting.FindAllString(line, -1)
		if !strings.HasPrefix(line, "|") || len(names) != 1 {
			continue
		}
		def, ok := defaults[names[0]]
		if !ok {
			continue
		}
		cells := strings.Split(line, "|")
		require.Greater(t, len(cells), 3, "api.md: %s", line)
		require.Contains(t, cells[2], def, "api.md's row for %s does not give its default %s", names[0], def)
		checked++
	}
	require.GreaterOrEqual(t, checked, 15, "api.md's limit tables")
}

// quote writes a count as api.md does: sizes in KB or MB, other numbers
// with thousands separated by commas; "" for 0.
func quote(name string, n int64) string {
	switch {
	case n == 0:
		return ""
	case strings.Contains(name, "body") || strings.Contains(name, "upload") || strings.Contains(name, "bytes"):
		if n%(1<<20) == 0 {
			return fmt.Sprintf("%d MB", n>>20)
		}
		return fmt.Sprintf("%d KB", n>>10)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// quoteDuration writes a duration as api.md does: "10 min" from ten
// minutes up, else seconds; "" for 0.
func quoteDuration(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d >= 10*time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return fmt.Sprintf("%d s", d/time.Second)
}

var (
	mdLink  = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
)

// anchors returns the GitHub anchors of a Markdown document's headings.
func anchors(doc string) []string {
	var out []string
	for _, h := range heading.FindAllStringSubmatch(doc, -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(h[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
				b.WriteRune(r)
			}
		}
		out = append(out, b.String())
	}
	return out
}

// TestLinksResolve requires every relative link of the pages to name a file
// of the repository, and every anchor a heading of its page.
func TestLinksResolve(t *testing.T) {
	t.Parallel()
	for _, page := range pages {
		doc := read(t, page)
		for _, m := range mdLink.FindAllStringSubmatch(doc, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
				_, err := os.Stat(path)
				require.NoError(t, err, "%s links to %s, which is not in the repository", page, target)
			}
			if anchor != "" {
				require.True(t, slices.Contains(anchors(read(t, path)), anchor), "%s links to %s: no such heading", page, target)
			}
		}
	}
}
