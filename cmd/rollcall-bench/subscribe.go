package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/rollcall/rollcall/internal/bulksend"
	"github.com/rollcall/rollcall/internal/events"
)

// progressQuery is the subscription every watcher runs.
const progressQuery = `subscription($id: ID!) { bulkSendProgress(id: $id) { status total sent failed skipped finishedAt } }`

// watchResult is what one watcher saw.
type watchResult struct {
	subscribed time.Time // its first event arrived
	late       bool      // that first event was already the final one
	final      time.Time // the event with finishedAt arrived; zero if it never did
	events     int
	err        error
}

// wsMessage is a graphql-transport-ws message.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// watch opens n subscriptions to bulkSendProgress(id) on wsURL, at most
// parallel of them being opened at once, and returns when every one has
// completed or failed. onEvent sees the first watcher's events.
func watch(ctx context.Context, wsURL, token, id string, n, parallel int, onEvent func(sendState)) []watchResult {
	results := make([]watchResult, n)
	gate := make(chan struct{}, parallel)
	dialer := &websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: time.Minute}
	var wg sync.WaitGroup
	for i := range results {
		var f func(sendState)
		if i == 0 {
			f = onEvent
		}
		gate <- struct{}{}
		wg.Go(func() {
			results[i] = watchOne(ctx, dialer, wsURL, token, id, f, func() { <-gate })
		})
	}
	wg.Wait()
	return results
}

// watchOne runs one subscription until the server completes it, calling
// opened once it is subscribed (or has failed trying).
func watchOne(ctx context.Context, dialer *websocket.Dialer, wsURL, token, id string, onEvent func(sendState), opened func()) (r watchResult) {
	var once sync.Once
	defer once.Do(opened)
	conn, _, err := dialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		r.err = fmt.Errorf("dial: %w", err)
		return r
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	send := func(m wsMessage) error { return conn.WriteJSON(m) }
	init, _ := json.Marshal(map[string]string{"authorization": "Bearer " + token})
	if err := send(wsMessage{Type: "connection_init", Payload: init}); err != nil {
		r.err = fmt.Errorf("connection_init: %w", err)
		return r
	}
	sub, _ := json.Marshal(map[string]any{"query": progressQuery, "variables": map[string]any{"id": id}})
	acked := false
	for {
		var m wsMessage
		if err := conn.ReadJSON(&m); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			r.err = fmt.Errorf("read after %d events: %w", r.events, err)
			return r
		}
		at := time.Now()
		switch m.Type {
		case "connection_ack":
			if !acked {
				acked = true
				if err := send(wsMessage{ID: "1", Type: "subscribe", Payload: sub}); err != nil {
					r.err = fmt.Errorf("subscribe: %w", err)
					return r
				}
			}
		case "ping":
			if err := send(wsMessage{Type: "pong"}); err != nil {
				r.err = fmt.Errorf("pong: %w", err)
				return r
			}
		case "pong":
		case "next":
			s, err := decodeNext(m.Payload)
			if err != nil {
				r.err = err
				return r
			}
			r.events++
			if r.events == 1 {
				r.subscribed, r.late = at, s.FinishedAt != nil
				once.Do(opened)
			}
			if s.FinishedAt != nil && r.final.IsZero() {
				r.final = at
			}
			if onEvent != nil {
				onEvent(s)
			}
		case "error":
			r.err = fmt.Errorf("subscription error: %s", m.Payload)
			return r
		case "complete":
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
				time.Now().Add(time.Second))
			if r.final.IsZero() {
				r.err = errors.New("completed without a final event")
			}
			return r
		default:
			r.err = fmt.Errorf("unexpected %q message: %s", m.Type, m.Payload)
			return r
		}
	}
}

// decodeNext reads a "next" payload.
func decodeNext(payload json.RawMessage) (sendState, error) {
	var p struct {
		Data struct {
			BulkSendProgress *sendState `json:"bulkSendProgress"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return sendState{}, fmt.Errorf("decode event: %w", err)
	}
	if len(p.Errors) > 0 {
		return sendState{}, fmt.Errorf("event: %s", joinErrors(p.Errors))
	}
	if p.Data.BulkSendProgress == nil {
		return sendState{}, errors.New("event without bulkSendProgress")
	}
	return *p.Data.BulkSendProgress, nil
}

// listenFinal listens on the server's event bus itself (PostgreSQL
// LISTEN/NOTIFY, through internal/events) for send id's final progress event.
// The returned func stops listening and says when that event arrived (zero
// if it did not within a few seconds): with finishedAt and the watchers'
// arrivals, it splits the final event's delay into the part before the
// server published it and the server's fan-out to websockets.
func listenFinal(ctx context.Context, dbURL, id string) (func() time.Time, error) {
	sendID, err := strconv.Atoi(id)
	if err != nil {
		return nil, fmt.Errorf("bulk send id %q: %w", id, err)
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, err
	}
	bus, err := events.NewPostgres(ctx, dbURL, db, slog.New(slog.DiscardHandler))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("listen for events: %w", err)
	}
	ch, cancel := bus.Subscribe(ctx, bulksend.ProgressTopic(sendID))
	var at time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			var p struct {
				FinishedAt *time.Time `json:"finishedAt"`
			}
			if json.Unmarshal(e.Payload, &p) == nil && p.FinishedAt != nil {
				at = time.Now()
				return
			}
		}
	}()
	return func() time.Time {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		cancel()
		<-done
		_ = bus.Close()
		_ = db.Close()
		return at
	}, nil
}
