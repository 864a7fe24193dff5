package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"time"
)

// importCSV uploads a CSV of n new people through importUsers (a GraphQL
// multipart request, as a browser sends it) and returns how long the server
// took to answer and how many it created.
func (c *client) importCSV(ctx context.Context, n int) (time.Duration, int, error) {
	var csv bytes.Buffer
	csv.WriteString("email,first name,last name,role\n")
	for i := range n {
		fmt.Fprintf(&csv, "import%07d@example.com,First%d,Last%d,%s\n", i, i, i, []string{"Member", "HR", ""}[i%3])
	}
	var body bytes.Buffer
	form := multipart.NewWriter(&body)
	ops, _ := json.Marshal(map[string]any{
		"query":     `mutation($in: ImportUsersInput!) { importUsers(input: $in) { created rejected } }`,
		"variables": map[string]any{"in": map[string]any{"file": nil}},
	})
	_ = form.WriteField("operations", string(ops))
	_ = form.WriteField("map", `{"0": ["variables.in.file"]}`)
	part, err := form.CreateFormFile("0", "people.csv")
	if err != nil {
		return 0, 0, err
	}
	if _, err := part.Write(csv.Bytes()); err != nil {
		return 0, 0, err
	}
	if err := form.Close(); err != nil {
		return 0, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, &body)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", form.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.token)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	var out struct {
		Data struct {
			ImportUsers struct{ Created, Rejected int } `json:"importUsers"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, 0, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, raw)
	}
	if len(out.Errors) > 0 {
		return 0, 0, fmt.Errorf("%s", joinErrors(out.Errors))
	}
	return took, out.Data.ImportUsers.Created, nil
}
