package events

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		event   Event
		want    Event
		wantErr error
	}{
		{"no payload", Event{Topic: "user:1"}, Event{Topic: "user:1"}, nil},
		{"empty payload", Event{Topic: "user:1", Payload: json.RawMessage{}}, Event{Topic: "user:1"}, nil},
		{"compacted", Event{Topic: "user:1", Payload: json.RawMessage("{ \"a\" : [1, 2] }\n")}, Event{Topic: "user:1", Payload: json.RawMessage(`{"a":[1,2]}`)}, nil},
		{"null", Event{Topic: "user:1", Payload: json.RawMessage(`null`)}, Event{Topic: "user:1", Payload: json.RawMessage(`null`)}, nil},
		{"html kept", Event{Topic: "user:1", Payload: json.RawMessage(`"<a&b>"`)}, Event{Topic: "user:1", Payload: json.RawMessage(`"<a&b>"`)}, nil},
		{"largest payload", Event{Topic: "t", Payload: jsonString(MaxPayload)}, Event{Topic: "t", Payload: jsonString(MaxPayload)}, nil},
		{"longest topic", Event{Topic: strings.Repeat("t", maxTopic)}, Event{Topic: strings.Repeat("t", maxTopic)}, nil},
		{"payload too large", Event{Topic: "t", Payload: jsonString(MaxPayload + 1)}, Event{}, ErrPayloadTooLarge},
		{"empty topic", Event{Payload: json.RawMessage(`1`)}, Event{}, ErrInvalid},
		{"topic too long", Event{Topic: strings.Repeat("t", maxTopic+1)}, Event{}, ErrInvalid},
		{"topic not UTF-8", Event{Topic: "user:\xff"}, Event{}, ErrInvalid},
		{"payload not JSON", Event{Topic: "t", Payload: json.RawMessage(`{"a":`)}, Event{}, ErrInvalid},
		{"payload two values", Event{Topic: "t", Payload: json.RawMessage(`1 2`)}, Event{}, ErrInvalid},
		{"payload not UTF-8", Event{Topic: "t", Payload: json.RawMessage("\"\xff\"")}, Event{}, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := normalize(c.event)
			if c.wantErr != nil {
				require.ErrorIs(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestNormalizeCopiesPayload(t *testing.T) {
	t.Parallel()
	buf := []byte(`{"n":1}`)
	e, err := normalize(Event{Topic: "t", Payload: buf})
	require.NoError(t, err)
	buf[5] = '2'
	require.JSONEq(t, `{"n":1}`, string(e.Payload), "the publisher may reuse its buffer")
}

func TestEncodeFitsNotify(t *testing.T) {
	t.Parallel()
	// The worst case: a topic of control characters (six bytes each once
	// escaped) and the largest payload of characters HTML escaping would grow.
	topic := strings.Repeat("\x01", maxTopic)
	payload := json.RawMessage(`"` + strings.Repeat("<", MaxPayload-2) + `"`)
	e, err := normalize(Event{Topic: topic, Payload: payload})
	require.NoError(t, err)
	msg, err := encode(e)
	require.NoError(t, err)
	require.LessOrEqual(t, len(msg), maxNotify)

	back, err := decode(string(msg))
	require.NoError(t, err)
	require.Equal(t, e, back)

	back, err = decode(`{"t":"user:1"}`)
	require.NoError(t, err)
	require.Equal(t, Event{Topic: "user:1"}, back)
	for _, bad := range []string{"", "not json", `{"p":1}`, `[]`} {
		_, err := decode(bad)
		require.Error(t, err, bad)
	}
}

// jsonString returns a JSON string of n bytes (quotes included).
func jsonString(n int) json.RawMessage {
	return json.RawMessage(`"` + strings.Repeat("x", n-2) + `"`)
}
