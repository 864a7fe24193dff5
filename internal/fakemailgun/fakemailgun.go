// Package fakemailgun is an in-process stand-in for Mailgun's sending API,
// POST /v3/{domain}/messages, for tests and benchmarks. It expands batches the
// way Mailgun does (one copy per "to", %recipient.NAME% replaced from
// recipient-variables) and records what each recipient would receive.
//
// Serve it with httptest.NewServer(fakemailgun.New(opts)); the API base for
// mailgun-go is then the test server's URL + "/v3".
package fakemailgun

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxBody bounds one request body; a batch of 1,000 recipients with their
// variables is far smaller.
const maxBody = 64 << 20

// maxRecipients is Mailgun's limit on recipients per call.
const maxRecipients = 1000

// Options configure a Server.
type Options struct {
	Domain string // the sending domain in the path
	APIKey string // basic auth password; the user is "api"
	Record bool   // keep every Message; when false only the counters are kept
}

// Message is one copy Mailgun would deliver.
type Message struct {
	To        string // the address; for a call that Mailgun would send as one message to several addresses, all of them joined by ", "
	ToName    string // the display name(s), decoded, joined likewise
	From      string
	ReplyTo   string            // h:Reply-To
	Subject   string            // expanded
	Text      string            // expanded
	HTML      string            // expanded
	Variables map[string]string // the v: fields without the prefix, expanded
	ID        string            // the call's message id, without angle brackets
	Call      int               // which accepted call (from 1) carried it
}

// Server is a fake Mailgun; it is safe for concurrent use.
type Server struct {
	opts  Options
	epoch int64 // with seq, makes ids unique across servers and Resets

	mu         sync.Mutex
	seq        int // ids handed out; never reset
	calls      int // accepted calls since the last Reset
	recipients int
	counts     map[string]int
	messages   []Message
	failN      int
	failStatus int
	failAddr   map[string]int
	delay      time.Duration
}

// New returns a Server for opts.
func New(opts Options) *Server {
	return &Server{opts: opts, epoch: time.Now().UnixNano(), counts: map[string]int{}, failAddr: map[string]int{}}
}

// ServeHTTP answers one API call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if user, key, ok := r.BasicAuth(); !ok || user != "api" || key != s.opts.APIKey {
		reply(w, http.StatusUnauthorized, "Forbidden")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v3/"+s.opts.Domain+"/messages" {
		reply(w, http.StatusNotFound, "Not Found")
		return
	}
	form, err := readForm(w, r)
	if err != nil {
		reply(w, http.StatusBadRequest, err.Error())
		return
	}
	// Wait only after reading the body: until then net/http does not notice
	// a client that hangs up, and the request context stays alive.
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done(): // the client gave up: nobody reads an answer
			t.Stop()
			return
		}
	}
	to, err := parseTo(form["to"])
	if err != nil {
		reply(w, http.StatusBadRequest, err.Error())
		return
	}
	var rv map[string]map[string]any // nil when the call has no recipient-variables
	if js := form.Get("recipient-variables"); js != "" {
		d := json.NewDecoder(strings.NewReader(js))
		d.UseNumber()
		if err := d.Decode(&rv); err != nil || rv == nil {
			reply(w, http.StatusBadRequest, "recipient-variables parameter is not a valid JSON object of objects")
			return
		}
	}
	switch {
	case form.Get("from") == "":
		reply(w, http.StatusBadRequest, "from parameter is missing")
		return
	case len(to) == 0:
		reply(w, http.StatusBadRequest, "to parameter is missing")
		return
	case len(to) > maxRecipients:
		reply(w, http.StatusBadRequest, fmt.Sprintf("too many recipients: %d, at most %d", len(to), maxRecipients))
		return
	case form.Get("text") == "" && form.Get("html") == "":
		reply(w, http.StatusBadRequest, "need at least one of 'text' or 'html' parameters specified")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN > 0 {
		s.failN--
		reply(w, s.failStatus, "fakemailgun: failing as told")
		return
	}
	for _, a := range to {
		if status, ok := s.failAddr[a.Address]; ok {
			reply(w, status, "fakemailgun: failing for "+a.Address+" as told")
			return
		}
	}
	s.seq++
	s.calls++
	s.recipients += len(to)
	id := fmt.Sprintf("%d.%d@%s", s.epoch, s.seq, s.opts.Domain)
	for _, a := range to {
		s.counts[a.Address]++
	}
	if s.opts.Record {
		s.record(form, to, rv, id)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"id": "<" + id + ">", "message": "Queued. Thank you."})
}

// record appends the copies a call produces; s.mu is held.
func (s *Server) record(form url.Values, to []*mail.Address, rv map[string]map[string]any, id string) {
	base := Message{From: form.Get("from"), ReplyTo: form.Get("h:Reply-To"), ID: id, Call: s.calls}
	// copyWith expands every template field with repl.
	copyWith := func(m Message, repl *strings.Replacer) Message {
		m.Subject, m.Text, m.HTML = repl.Replace(form.Get("subject")), repl.Replace(form.Get("text")), repl.Replace(form.Get("html"))
		m.Variables = map[string]string{}
		for k, v := range form {
			if name, ok := strings.CutPrefix(k, "v:"); ok && len(v) > 0 {
				m.Variables[name] = repl.Replace(v[0])
			}
		}
		return m
	}
	if rv == nil { // Mailgun sends one message that shows every address
		m := base
		var addrs, names []string
		for _, a := range to {
			addrs, names = append(addrs, a.Address), append(names, a.Name)
		}
		m.To, m.ToName = strings.Join(addrs, ", "), strings.Join(names, ", ")
		s.messages = append(s.messages, copyWith(m, strings.NewReplacer()))
		return
	}
	for _, a := range to {
		var pairs []string // %recipient.NAME% → value; unknown names stay as written
		for k, v := range rv[a.Address] {
			pairs = append(pairs, "%recipient."+k+"%", valueString(v))
		}
		m := base
		m.To, m.ToName = a.Address, a.Name
		s.messages = append(s.messages, copyWith(m, strings.NewReplacer(pairs...)))
	}
}

// readForm reads a multipart or URL-encoded body. It walks multipart parts
// itself: Request.ParseMultipartForm refuses more than 1,000 parts unless
// GODEBUG=multipartmaxparts is raised, and a batch of 1,000 "to" is more.
// Files (attachments) are read and dropped.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	body := http.MaxBytesReader(w, r.Body, maxBody)
	mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mediaType {
	case "application/x-www-form-urlencoded":
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		return url.ParseQuery(string(b))
	case "multipart/form-data":
		form := url.Values{}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return form, nil
			}
			if err != nil {
				return nil, fmt.Errorf("read multipart body: %w", err)
			}
			b, err := io.ReadAll(p)
			if err != nil {
				return nil, fmt.Errorf("read part %q: %w", p.FormName(), err)
			}
			if p.FileName() == "" && p.FormName() != "" {
				form.Add(p.FormName(), string(b))
			}
		}
	default:
		return nil, fmt.Errorf("unsupported content type %q", mediaType)
	}
}

// parseTo parses every "to" value; each may hold several addresses.
func parseTo(values []string) ([]*mail.Address, error) {
	var to []*mail.Address
	for _, v := range values {
		list, err := mail.ParseAddressList(v)
		if err != nil {
			return nil, fmt.Errorf("to parameter is not a valid address list: %q", v)
		}
		to = append(to, list...)
	}
	return to, nil
}

// valueString renders a recipient variable as Mailgun substitutes it: strings
// as they are, numbers as written, anything else as JSON.
func valueString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// reply answers status with Mailgun's JSON error body.
func reply(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
}

// Messages returns a copy of every recorded message, in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// MessagesTo returns the recorded messages whose To is exactly addr.
func (s *Server) MessagesTo(addr string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// Calls returns how many calls were accepted (answered 200).
func (s *Server) Calls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls }

// Recipients returns how many addresses the accepted calls had in all.
func (s *Server) Recipients() int { s.mu.Lock(); defer s.mu.Unlock(); return s.recipients }

// Counts returns a copy of how many accepted calls included each address.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.counts)
}

// Fail answers the next n valid calls with status (e.g. 429, 500 or 400) and
// a JSON error body, without recording them.
func (s *Server) Fail(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// FailAddress answers status to every valid call that includes addr.
func (s *Server) FailAddress(addr string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAddr[addr] = status
}

// SetDelay makes every call wait d before it is answered; a client that gives
// up earlier gets no answer.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Reset forgets messages, counters, failures and the delay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.recipients, s.messages = 0, 0, nil
	s.counts, s.failAddr = map[string]int{}, map[string]int{}
	s.failN, s.failStatus, s.delay = 0, 0, 0
}
