package fakemailgun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollcall/rollcall/internal/fakemailgun"
)

const (
	domain = "mg.example.com"
	key    = "key-fake"
)

func newServer(t *testing.T, record bool) (*fakemailgun.Server, string) {
	t.Helper()
	s := fakemailgun.New(fakemailgun.Options{Domain: domain, APIKey: key, Record: record})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL + "/v3/" + domain + "/messages"
}

// field is one form value; order matters to nobody but keeps bodies readable.
type field struct{ k, v string }

// post sends fields as multipart/form-data (or URL-encoded when urlenc) and
// returns the status and decoded JSON body.
func post(t *testing.T, ctx context.Context, endpoint, apiKey string, urlenc bool, fields ...field) (int, map[string]string) {
	t.Helper()
	var body bytes.Buffer
	var ctype string
	if urlenc {
		v := url.Values{}
		for _, f := range fields {
			v.Add(f.k, f.v)
		}
		body.WriteString(v.Encode())
		ctype = "application/x-www-form-urlencoded"
	} else {
		mw := multipart.NewWriter(&body)
		for _, f := range fields {
			require.NoError(t, mw.WriteField(f.k, f.v))
		}
		require.NoError(t, mw.Close())
		ctype = mw.FormDataContentType()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", ctype)
	req.SetBasicAuth("api", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, map[string]string{"error": err.Error()}
	}
	defer resp.Body.Close()
	out := map[string]string{}
	b, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(b, &out), string(b))
	return resp.StatusCode, out
}

// simple is a valid single-recipient call.
func simple(to string) []field {
	return []field{{"from", "Acme <noreply@acme.test>"}, {"to", to}, {"subject", "Hi"}, {"text", "Hello"}}
}

func TestAuthAndPath(t *testing.T) {
	t.Parallel()
	s, endpoint := newServer(t, true)
	ctx := context.Background()

	code, _ := post(t, ctx, endpoint, "wrong", false, simple("a@example.com")...)
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = post(t, ctx, strings.Replace(endpoint, domain, "other.example.com", 1), key, false, simple("a@example.com")...)
	require.Equal(t, http.StatusNotFound, code)
	code, body := post(t, ctx, endpoint, key, false, field{"from", "x@acme.test"}, field{"to", "a@example.com"})
	require.Equal(t, http.StatusBadRequest, code, "no body")
	require.NotEmpty(t, body["message"])
	require.Zero(t, s.Calls())

	code, body = post(t, ctx, endpoint, key, false, simple("a@example.com")...)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "Queued. Thank you.", body["message"])
	require.Regexp(t, `^<\d+\.1@`+domain+`>$`, body["id"])
	_, again := post(t, ctx, endpoint, key, true, simple("a@example.com")...)
	require.NotEqual(t, body["id"], again["id"], "ids are unique per call")
	require.Equal(t, 2, s.Calls())
}

func TestBatchExpansion(t *testing.T) {
	t.Parallel()
	for _, urlenc := range []bool{false, true} {
		t.Run(fmt.Sprintf("urlencoded=%v", urlenc), func(t *testing.T) {
			t.Parallel()
			s, endpoint := newServer(t, true)
			rv := `{"ada@example.com":{"name":"Ada","n":1},"bob@example.com":{"name":"Bob","n":2.5}}`
			code, body := post(t, context.Background(), endpoint, key, urlenc,
				field{"from", "Acme <noreply@acme.test>"},
				field{"to", "=?utf-8?q?Ad=C3=A5?= <ada@example.com>"},
				field{"to", "bob@example.com, carol@example.com"}, // several in one value, carol without variables
				field{"subject", "Hi %recipient.name%"},
				field{"text", "n=%recipient.n% %recipient.missing%"},
				field{"html", "<p>%recipient.name%</p>"},
				field{"h:Reply-To", "help@acme.test"},
				field{"v:delivery_id", "d-%recipient.n%"},
				field{"v:org", "acme"},
				field{"recipient-variables", rv},
			)
			require.Equal(t, http.StatusOK, code)
			id := strings.Trim(body["id"], "<>")

			require.Len(t, s.Messages(), 3)
			require.Equal(t, 1, s.Calls())
			require.Equal(t, 3, s.Recipients())
			require.Equal(t, map[string]int{"ada@example.com": 1, "bob@example.com": 1, "carol@example.com": 1}, s.Counts())

			ada := s.MessagesTo("ada@example.com")
			require.Len(t, ada, 1)
			require.Equal(t, fakemailgun.Message{
				To: "ada@example.com", ToName: "Adå", From: "Acme <noreply@acme.test>", ReplyTo: "help@acme.test",
				Subject: "Hi Ada", Text: "n=1 %recipient.missing%", HTML: "<p>Ada</p>",
				Variables: map[string]string{"delivery_id": "d-1", "org": "acme"}, ID: id, Call: 1,
			}, ada[0])
			bob := s.MessagesTo("bob@example.com")
			require.Len(t, bob, 1)
			require.Equal(t, "Hi Bob", bob[0].Subject)
			require.Equal(t, "d-2.5", bob[0].Variables["delivery_id"])
			carol := s.MessagesTo("carol@example.com")
			require.Len(t, carol, 1)
			require.Equal(t, "Hi %recipient.name%", carol[0].Subject, "no variables: left as written")
		})
	}
}

func TestWithoutRecipientVariablesEveryoneSeesEveryone(t *testing.T) {
	t.Parallel()
	s, endpoint := newServer(t, true)
	code, _ := post(t, context.Background(), endpoint, key, false,
		field{"from", "noreply@acme.test"}, field{"to", "Ada <ada@example.com>"}, field{"to", "bob@example.com"},
		field{"subject", "Hi"}, field{"text", "Hello"})
	require.Equal(t, http.StatusOK, code)
	msgs := s.Messages()
	require.Len(t, msgs, 1)
	require.Equal(t, "ada@example.com, bob@example.com", msgs[0].To)
	require.Equal(t, "Ada, ", msgs[0].ToName)
	require.Empty(t, s.MessagesTo("ada@example.com"))
	require.Equal(t, 2, s.Recipients())
}

// TestThousandParts sends 1,000 "to" parts plus the rest, more parts than
// Request.ParseMultipartForm accepts by default, and one too many recipients.
func TestThousandParts(t *testing.T) {
	t.Parallel()
	s, endpoint := newServer(t, false)
	fields := []field{{"from", "noreply@acme.test"}, {"subject", "Hi"}, {"text", "Hello %recipient.i%"}}
	rv := map[string]map[string]int{}
	for i := range 1000 {
		addr := fmt.Sprintf("u%d@example.com", i)
		fields = append(fields, field{"to", addr})
		rv[addr] = map[string]int{"i": i}
	}
	js, err := json.Marshal(rv)
	require.NoError(t, err)
	fields = append(fields, field{"recipient-variables", string(js)})
	code, body := post(t, context.Background(), endpoint, key, false, fields...)
	require.Equal(t, http.StatusOK, code, body["message"])
	require.Equal(t, 1000, s.Recipients())
	require.Len(t, s.Counts(), 1000)
	require.Empty(t, s.Messages(), "Record is off")

	code, _ = post(t, context.Background(), endpoint, key, false, append(fields, field{"to", "one-more@example.com"})...)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, 1, s.Calls())
}

func TestFailures(t *testing.T) {
	t.Parallel()
	s, endpoint := newServer(t, true)
	ctx := context.Background()

	s.Fail(2, http.StatusTooManyRequests)
	for range 2 {
		code, body := post(t, ctx, endpoint, key, false, simple("a@example.com")...)
		require.Equal(t, http.StatusTooManyRequests, code)
		require.NotEmpty(t, body["message"])
	}
	code, _ := post(t, ctx, endpoint, key, false, simple("a@example.com")...)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 1, s.Calls())
	require.Len(t, s.Messages(), 1)

	s.FailAddress("bad@example.com", http.StatusBadRequest)
	code, _ = post(t, ctx, endpoint, key, false, simple("ok@example.com, bad@example.com")...)
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = post(t, ctx, endpoint, key, false, simple("ok@example.com")...)
	require.Equal(t, http.StatusOK, code)

	s.SetDelay(time.Minute)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	code, _ = post(t, short, endpoint, key, false, simple("a@example.com")...)
	require.Zero(t, code, "the client gave up")
	require.Less(t, time.Since(start), 10*time.Second)

	s.Reset()
	require.Zero(t, s.Calls())
	require.Empty(t, s.Messages())
	require.Empty(t, s.Counts())
	code, _ = post(t, ctx, endpoint, key, false, simple("bad@example.com")...)
	require.Equal(t, http.StatusOK, code, "Reset clears failures and the delay")
	require.Equal(t, 1, s.MessagesTo("bad@example.com")[0].Call)
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	s, endpoint := newServer(t, true)
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Go(func() {
			_, body := post(t, context.Background(), endpoint, key, false, simple(fmt.Sprintf("u%d@example.com", i))...)
			ids[i] = body["id"]
		})
	}
	wg.Wait()
	require.Equal(t, 20, s.Calls())
	seen := map[string]bool{}
	for _, id := range ids {
		require.NotEmpty(t, id)
		require.False(t, seen[id])
		seen[id] = true
	}
}
