package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// client speaks GraphQL over HTTP to the server, signed in once login has
// succeeded.
type client struct {
	url   string
	token string
	http  http.Client
}

// sendState is a bulk send as the API shows it: the final read and every
// progress event (which carry no createdAt).
type sendState struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	Total      int        `json:"total"`
	Sent       int        `json:"sent"`
	Failed     int        `json:"failed"`
	Skipped    int        `json:"skipped"`
	CreatedAt  time.Time  `json:"createdAt"`
	FinishedAt *time.Time `json:"finishedAt"`
}

// done is how many recipients are settled.
func (s sendState) done() int { return s.Sent + s.Failed + s.Skipped }

// gqlError is one entry of a response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) String() string {
	if code, ok := e.Extensions["code"]; ok {
		return fmt.Sprintf("%s (%v)", e.Message, code)
	}
	return e.Message
}

// joinErrors describes a response's errors in one line.
func joinErrors(errs []gqlError) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.String()
	}
	return strings.Join(msgs, "; ")
}

// do runs one operation and decodes its data into out.
func (c *client) do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var res struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, raw)
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%s", joinErrors(res.Errors))
	}
	return json.Unmarshal(res.Data, out)
}

// login signs in and keeps the session token.
func (c *client) login(ctx context.Context, org, login, password string) error {
	var out struct {
		Login struct{ Token string } `json:"login"`
	}
	err := c.do(ctx, `mutation($in: LoginInput!) { login(input: $in) { token } }`,
		map[string]any{"in": map[string]any{"organization": org, "login": login, "password": password}}, &out)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	c.token = out.Login.Token
	return nil
}

// sendInvitations invites every NOT_INVITED person and returns the send's
// id and how many people it selected.
func (c *client) sendInvitations(ctx context.Context) (id string, total int, err error) {
	var out struct {
		SendInvitations struct {
			BulkSend struct{ ID string } `json:"bulkSend"`
			Total    int                 `json:"total"`
		} `json:"sendInvitations"`
	}
	err = c.do(ctx, `mutation { sendInvitations(input: {where: {status: NOT_INVITED}, kind: INVITATION}) { bulkSend { id } total } }`, nil, &out)
	if err != nil {
		return "", 0, fmt.Errorf("sendInvitations: %w", err)
	}
	return out.SendInvitations.BulkSend.ID, out.SendInvitations.Total, nil
}

// bulkSend reads a send.
func (c *client) bulkSend(ctx context.Context, id string) (sendState, error) {
	var out struct {
		BulkSend *sendState `json:"bulkSend"`
	}
	err := c.do(ctx, `query($id: ID!) { bulkSend(id: $id) { id status total sent failed skipped createdAt finishedAt } }`,
		map[string]any{"id": id}, &out)
	if err != nil {
		return sendState{}, fmt.Errorf("bulkSend: %w", err)
	}
	if out.BulkSend == nil {
		return sendState{}, fmt.Errorf("bulkSend %s: not found", id)
	}
	return *out.BulkSend, nil
}

// waitFinished polls a send until it has finished.
func (c *client) waitFinished(ctx context.Context, id string) (sendState, error) {
	for {
		b, err := c.bulkSend(ctx, id)
		if err != nil || b.FinishedAt != nil {
			return b, err
		}
		select {
		case <-ctx.Done():
			return b, fmt.Errorf("send %s not finished (%d of %d settled): %w", id, b.done(), b.Total, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
