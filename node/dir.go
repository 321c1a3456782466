package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultDir is the data directory used when none is given: $INDEXD_DATA,
// else $XDG_DATA_HOME/indexd, else ~/.local/share/indexd.
func DefaultDir() string {
	if d := os.Getenv("INDEXD_DATA"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "indexd")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(os.TempDir(), "indexd")
	}
	return filepath.Join(home, ".local", "share", "indexd")
}

const (
	identityFile = "identity.key"
	tokenFile    = "token"
	apiKeyFile   = "apikey"
	hostKeyFile  = "host.key"
	daemonFile   = "daemon.json"
)

// ErrNotInitialised is returned by Open when the directory has no identity.
var ErrNotInitialised = errors.New("node: data directory not initialised (run 'indexd init')")

// readSecret reads a hex-encoded 32-byte secret.
func readSecret(path string) ([32]byte, error) {
	var out [32]byte
	b, err := os.ReadFile(path)
	if err != nil {
		return out, err
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != 32 {
		return out, fmt.Errorf("reading %s: not a 32-byte hex key", path)
	}
	copy(out[:], raw)
	return out, nil
}

// createSecret writes a fresh random 32-byte secret as hex with mode 0600.
// It never overwrites an existing file: O_EXCL makes a second init a no-op.
func createSecret(path string) ([32]byte, bool, error) {
	if s, err := readSecret(path); err == nil {
		return s, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return s, false, err
	}
	var s [32]byte
	if _, err := rand.Read(s[:]); err != nil {
		return s, false, err
	}
	if err := writeSecretFile(path, []byte(hex.EncodeToString(s[:])+"\n")); err != nil {
		if errors.Is(err, fs.ErrExist) {
			s2, err2 := readSecret(path)
			return s2, false, err2
		}
		return s, false, err
	}
	return s, true, nil
}

// writeSecretFile creates path exclusively with mode 0600 and syncs it.
func writeSecretFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// readToken reads a text secret (token, api key), creating it if missing.
func readOrCreateToken(path string) (string, error) {
	s, _, err := createSecret(path)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(s[:]), nil
}

// InitResult says what Init did.
type InitResult struct {
	Dir      string `json:"data_dir"`
	Identity string `json:"identity"`
	Created  bool   `json:"created"` // false: the identity already existed and was kept
	Index    string `json:"default_index"`
}

// Init creates the data directory, the identity key (mode 0600) and the
// default index. Running it again never overwrites a key.
func Init(ctx context.Context, dir string) (*InitResult, error) {
	if dir == "" {
		dir = DefaultDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	_, created, err := createSecret(filepath.Join(dir, identityFile))
	if err != nil {
		return nil, fmt.Errorf("creating identity: %w", err)
	}
	n, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	defer n.Close()
	res := &InitResult{Dir: dir, Identity: n.Identity().String(), Created: created}
	if k, err := n.defaultIndex(); err == nil {
		res.Index = k.String()
	}
	return res, nil
}
