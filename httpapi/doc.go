// Package httpapi is the HTTP face of an indexd node: a JSON API under
// /api/v1, a server-rendered web UI, Torznab (for Sonarr, Radarr and
// Prowlarr), RSS 2.0 feeds, Prometheus /metrics and /healthz. Client is the
// same API seen from the other side: the CLI talks to a running daemon
// through it.
//
// Every endpoint is documented, with example requests, in docs/api.md.
//
// Security model (the invariant this package keeps): nothing changes state
// without either the write token from the data directory
// ("Authorization: Bearer <token>") or a session cookie plus a CSRF token
// tied to it. Reads are open to loopback clients; others need the token,
// a session, or the read-only API key (Torznab, RSS and GET requests
// accept "apikey"). Every request's Host header must name an allowed host,
// so a web page cannot reach the API through DNS rebinding.
//
// Cost: the server keeps no per-request state beyond the request; sessions
// are stateless (an HMAC keyed by the write token), one-time login codes
// live in memory until used or expired. Request bodies are bounded
// (Options.MaxUpload, Options.MaxImport) and every non-streaming request
// runs under Options.RequestTimeout.
//
// The package owns no badger keys.
package httpapi
