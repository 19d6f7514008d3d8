package m365

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
)

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    any               `json:"body,omitempty"`
}

// MaxBatchRequests is Graph's JSON batch size limit.
const MaxBatchRequests = 20

func (e *Emulator) batch(c *call, mux *http.ServeMux) {
	if c.inBatch {
		c.fail(400, "BadRequest", "Nested batch requests are not supported.")
		return
	}
	var body struct {
		Requests []batchRequest `json:"requests"`
	}
	if !c.decode(&body) {
		return
	}
	reqs := body.Requests
	if len(reqs) == 0 {
		c.fail(400, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(reqs) > MaxBatchRequests {
		c.fail(400, "BadRequest", "Number of batch request steps exceeds the maximum of 20.")
		return
	}
	ids := map[string]int{}
	sequential := false
	for i, r := range reqs {
		lid := strings.ToLower(r.ID)
		if r.ID == "" || r.Method == "" || r.URL == "" {
			c.fail(400, "BadRequest", "Each batch request needs id, method and url.")
			return
		}
		if _, dup := ids[lid]; dup {
			c.fail(400, "BadRequest", "Batch request id '"+r.ID+"' is duplicated. Ids must be unique.")
			return
		}
		for _, d := range r.DependsOn {
			if _, ok := ids[strings.ToLower(d)]; !ok {
				c.fail(400, "BadRequest", "Batch request '"+r.ID+"' depends on unknown or later request '"+d+"'.")
				return
			}
			sequential = true
		}
		if len(r.Body) > 0 && string(r.Body) != "null" && headerValue(r.Headers, "Content-Type") == "" {
			c.fail(400, "BadRequest", "Write request id : "+r.ID+" does not contain Content-Type header or body.")
			return
		}
		ids[lid] = i
	}
	out := make([]batchResponse, len(reqs))
	run := func(i int) {
		r := reqs[i]
		out[i] = e.batchOne(c, mux, r)
	}
	if sequential {
		failed := map[string]bool{}
		for i, r := range reqs {
			dep := false
			for _, d := range r.DependsOn {
				dep = dep || failed[strings.ToLower(d)]
			}
			if dep {
				out[i] = batchResponse{ID: r.ID, Status: 424, Body: map[string]any{"error": map[string]any{"code": "FailedDependency", "message": "Dependent request failed."}}}
				failed[strings.ToLower(r.ID)] = true
				continue
			}
			run(i)
			if out[i].Status < 200 || out[i].Status > 299 {
				failed[strings.ToLower(r.ID)] = true
			}
		}
	} else {
		var wg sync.WaitGroup
		for i := range reqs {
			wg.Add(1)
			go func() { defer wg.Done(); run(i) }()
		}
		wg.Wait()
	}
	c.json(200, map[string]any{"responses": out})
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (e *Emulator) batchOne(c *call, mux *http.ServeMux, r batchRequest) batchResponse {
	u := r.URL
	if strings.HasPrefix(u, e.GraphURL) {
		u = strings.TrimPrefix(u, e.GraphURL)
	}
	u = strings.TrimPrefix(u, "/v1.0")
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	var body []byte
	if len(r.Body) > 0 && string(r.Body) != "null" {
		body = r.Body
		ct := strings.ToLower(headerValue(r.Headers, "Content-Type"))
		if !strings.Contains(ct, "json") {
			var s string
			if json.Unmarshal(r.Body, &s) == nil {
				if b, err := base64.StdEncoding.DecodeString(s); err == nil {
					body = b
				}
			}
		}
	}
	ctx, cancel := context.WithCancel(context.WithValue(c.r.Context(), batchKey, true))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(r.Method), "/v1.0"+u, bytes.NewReader(body))
	if err != nil {
		return batchResponse{ID: r.ID, Status: 400, Body: map[string]any{"error": map[string]any{"code": "BadRequest", "message": "Invalid URL."}}}
	}
	req.Host = c.r.Host
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", c.r.Header.Get("Authorization"))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	res := rec.Result()
	hdr := map[string]string{}
	for _, k := range []string{"Content-Type", "Retry-After", "Location", "ETag"} {
		if v := res.Header.Get(k); v != "" {
			hdr[k] = v
		}
	}
	br := batchResponse{ID: r.ID, Status: res.StatusCode, Headers: hdr}
	data := rec.Body.Bytes()
	if len(data) > 0 {
		if strings.Contains(res.Header.Get("Content-Type"), "json") {
			br.Body = json.RawMessage(bytes.TrimSpace(data))
		} else {
			br.Body = base64.StdEncoding.EncodeToString(data)
		}
	}
	_ = strconv.Itoa
	return br
}
