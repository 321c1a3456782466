package httpapi

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
)

// apiError is the JSON body of every error response under /api/.
type apiError struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal error","status":500}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Status}} · indexd</title><link rel="stylesheet" href="/static/style.css"></head>
<body><main class="wrap"><h1>{{.Status}} {{.Text}}</h1><p class="error" role="alert">{{.Message}}</p>
<p><a href="/">Back to search</a></p></main></body></html>`))

// writeError answers with status and a message: JSON for API clients, a
// small HTML page for browsers.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		writeJSON(w, status, apiError{Error: msg, Status: status})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	errorPage.Execute(w, map[string]any{"Status": status, "Text": http.StatusText(status), "Message": msg})
}

// fail writes the response for a failed node call.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := errStatus(err)
	writeError(w, r, status, s.publicMessage(r, err, status))
}
