package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	sessionCookie = "indexd_session"
	// sessionTTL is how long a browser session lasts.
	sessionTTL = 30 * 24 * time.Hour
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// LoginURL returns a one-time link under base (e.g. "http://127.0.0.1:7870")
// that gives a browser a session cookie. Each call makes a new code; a code
// works once, within 24 hours.
func (s *Server) LoginURL(base string) string {
	code := randomHex(16)
	now := time.Now()
	s.loginMu.Lock()
	for c, exp := range s.loginCodes {
		if now.After(exp) {
			delete(s.loginCodes, c)
		}
	}
	if len(s.loginCodes) >= maxLoginCodes {
		// Drop the oldest: a flood of LoginURL calls must not grow memory.
		var oldest string
		for c, exp := range s.loginCodes {
			if oldest == "" || exp.Before(s.loginCodes[oldest]) {
				oldest = c
			}
		}
		delete(s.loginCodes, oldest)
	}
	s.loginCodes[code] = now.Add(loginCodeTTL)
	s.loginMu.Unlock()
	return strings.TrimRight(base, "/") + "/login?code=" + code
}

// useLoginCode consumes a one-time code.
func (s *Server) useLoginCode(code string) bool {
	s.loginMu.Lock()
	defer s.loginMu.Unlock()
	exp, ok := s.loginCodes[code]
	if !ok {
		return false
	}
	delete(s.loginCodes, code)
	return time.Now().Before(exp)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("httpapi: crypto/rand failed: " + err.Error()) // documented: never happens on supported systems
	}
	return hex.EncodeToString(b)
}

// mac is HMAC-SHA256 keyed by the write token, so sessions survive a
// daemon restart and die when the token changes.
func (s *Server) mac(parts ...string) string {
	h := hmac.New(sha256.New, []byte(s.opts.Token))
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// newSession returns a session cookie value: "<nonce>.<expiry>.<mac>".
func (s *Server) newSession() string {
	nonce := randomHex(16)
	exp := time.Now().Add(sessionTTL).Unix()
	e := strconv.FormatInt(exp, 10)
	return nonce + "." + e + "." + s.mac("session", nonce, e)
}

// session returns the nonce of a valid session cookie, or "".
func (s *Server) session(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 || len(parts[0]) != 32 {
		return ""
	}
	if !hmac.Equal([]byte(parts[2]), []byte(s.mac("session", parts[0], parts[1]))) {
		return ""
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || time.Now().Unix() > exp {
		return ""
	}
	return parts[0]
}

// csrfToken is the CSRF token for a session nonce.
func (s *Server) csrfToken(nonce string) string {
	if nonce == "" {
		return ""
	}
	return s.mac("csrf", nonce)[:32]
}

func (s *Server) setSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    s.newSession(),
		Path:     "/",
		MaxAge:   int(sessionTTL / time.Second),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

// bearerOK reports whether the request carries the write token.
func (s *Server) bearerOK(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	return ok && s.opts.Token != "" &&
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.opts.Token)) == 1
}

// apiKeyOK reports whether the request carries the read-only API key (or
// the write token) as ?apikey= or X-Api-Key.
func (s *Server) apiKeyOK(r *http.Request) bool {
	k := r.URL.Query().Get("apikey")
	if k == "" {
		k = r.Header.Get("X-Api-Key")
	}
	if k == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(k), []byte(s.opts.APIKey)) == 1 ||
		subtle.ConstantTimeCompare([]byte(k), []byte(s.opts.Token)) == 1
}

// canRead reports whether r may read: loopback clients always may, others
// need the token, a session or the API key.
func (s *Server) canRead(r *http.Request) bool {
	return isLoopback(r) || s.bearerOK(r) || s.session(r) != "" || s.apiKeyOK(r)
}

// write wraps a handler that changes state: it needs the bearer token, or
// a session cookie plus the CSRF token of that session (form field "csrf"
// or header X-CSRF-Token) and, when the browser sends one, a same-origin
// Origin header.
func (s *Server) write(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit := s.opts.MaxUpload
		if strings.HasSuffix(r.URL.Path, "/import") {
			limit = s.opts.MaxImport
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if s.bearerOK(r) {
			h(w, r)
			return
		}
		nonce := s.session(r)
		if nonce == "" {
			writeError(w, r, http.StatusUnauthorized, "writes need 'Authorization: Bearer <token>' (the token file in the data directory) or a browser session from the link 'indexd serve' prints")
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || !strings.EqualFold(u.Host, r.Host) {
				writeError(w, r, http.StatusForbidden, "cross-origin request refused")
				return
			}
		}
		got := r.Header.Get(csrfHeader)
		if got == "" {
			var err error
			if got, err = formValue(r, csrfField); err != nil {
				status := errStatus(err)
				if status == http.StatusInternalServerError {
					status = http.StatusBadRequest
				}
				writeError(w, r, status, "reading the form: "+s.publicMessage(r, err, status))
				return
			}
		}
		if !hmac.Equal([]byte(got), []byte(s.csrfToken(nonce))) {
			writeError(w, r, http.StatusForbidden, "missing or stale CSRF token; reload the page and try again")
			return
		}
		h(w, r)
	}
}

// formValue reads one field of a urlencoded or multipart form. The body
// is already bounded by the MaxBytesReader that write installs; multipart
// parts beyond 1 MiB spill to temporary files, removed when the request
// ends.
func formValue(r *http.Request, key string) (string, error) {
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "multipart/form-data") {
		if r.MultipartForm == nil {
			if err := r.ParseMultipartForm(1 << 20); err != nil {
				return "", err
			}
		}
		if v := r.MultipartForm.Value[key]; len(v) > 0 {
			return v[0], nil
		}
		return "", nil
	}
	if err := r.ParseForm(); err != nil {
		return "", err
	}
	return r.PostForm.Get(key), nil
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if code := r.URL.Query().Get("code"); code != "" {
		if s.useLoginCode(code) {
			s.setSession(w)
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		s.ui.render(w, r, http.StatusUnauthorized, "login.html", &page{Title: "Sign in", Error: "That sign-in link was already used or has expired. Paste the token instead, or run 'indexd serve' again for a new link."})
		return
	}
	s.ui.render(w, r, http.StatusOK, "login.html", &page{Title: "Sign in"})
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	tok := strings.TrimSpace(r.PostFormValue("token"))
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Token)) != 1 {
		s.ui.render(w, r, http.StatusUnauthorized, "login.html", &page{Title: "Sign in", Error: "That is not this node's token."})
		return
	}
	s.setSession(w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
