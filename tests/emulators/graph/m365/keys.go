package m365

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"sync"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// MaxSigningKeys bounds the published key set (control API POST /keys).
const MaxSigningKeys = 8

// signingKey is one RS256 key of the tenant's key set. As in Entra's key
// sets, each key comes with a self-signed certificate (x5c) and its kid is the
// certificate's x5t: the base64url SHA-1 thumbprint of the DER.
type signingKey struct {
	kid     string
	key     *rsa.PrivateKey
	certDER []byte
	created time.Time
	retires time.Time // zero: stays published until removed
}

func newSigningKey(now time.Time) (*signingKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(der)
	return &signingKey{kid: b64url(sum[:]), key: k, certDER: der, created: now}, nil
}

func (k *signingKey) sign(claims map[string]any) string {
	hdr, _ := json.Marshal(map[string]any{"typ": "JWT", "alg": "RS256", "kid": k.kid, "x5t": k.kid})
	body, _ := json.Marshal(claims)
	signing := b64url(hdr) + "." + b64url(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return signing + "." + b64url(sig)
}

func (k *signingKey) jwk(issuer string) map[string]any {
	pub := k.key.PublicKey
	return map[string]any{
		"kty": "RSA", "use": "sig", "kid": k.kid, "x5t": k.kid,
		"n": b64url(pub.N.Bytes()), "e": b64url(big.NewInt(int64(pub.E)).Bytes()),
		"x5c": []string{base64.StdEncoding.EncodeToString(k.certDER)}, "issuer": issuer,
	}
}

// keyRing is the tenant's published key set: one active key signs every
// token; the others stay published (a key announced before it signs, or a
// retired one kept while clients' caches turn over) until removed.
type keyRing struct {
	mu     sync.RWMutex
	active *signingKey
	keys   []*signingKey // published, oldest first
	// stranger signs tokens with a key that is never published.
	stranger *signingKey
}

func newKeyRing(now time.Time) (*keyRing, error) {
	k, err := newSigningKey(now)
	if err != nil {
		return nil, err
	}
	return &keyRing{active: k, keys: []*signingKey{k}}, nil
}

func (r *keyRing) sign(claims map[string]any) string {
	r.mu.RLock()
	k := r.active
	r.mu.RUnlock()
	return k.sign(claims)
}

// signUnpublished signs with a key that no key set publishes (its kid looks
// like any other), for tests of a validator's "unknown key" path.
func (r *keyRing) signUnpublished(claims map[string]any) (string, error) {
	r.mu.Lock()
	if r.stranger == nil {
		k, err := newSigningKey(time.Now())
		if err != nil {
			r.mu.Unlock()
			return "", err
		}
		r.stranger = k
	}
	k := r.stranger
	r.mu.Unlock()
	return k.sign(claims), nil
}

func (r *keyRing) jwks(issuer string) map[string]any {
	r.mu.RLock()
	defer r.mu.RUnlock()
	keys := make([]map[string]any, 0, len(r.keys))
	// Newest first: Entra lists the key in use before older ones (unverified).
	for i := len(r.keys) - 1; i >= 0; i-- {
		keys = append(keys, r.keys[i].jwk(issuer))
	}
	return map[string]any{"keys": keys}
}

var (
	errNoSuchKey    = errors.New("no such key")
	errActiveKey    = errors.New("the active key cannot be removed: activate another key first")
	errTooManyKeys  = errors.New("too many published keys: remove one first")
	errKeyGenFailed = errors.New("key generation failed")
)

func (r *keyRing) add(activate bool, retirePrevious time.Duration, now time.Time) (*signingKey, error) {
	r.mu.RLock()
	n := len(r.keys)
	r.mu.RUnlock()
	if n >= MaxSigningKeys {
		return nil, errTooManyKeys
	}
	k, err := newSigningKey(now)
	if err != nil {
		return nil, errKeyGenFailed
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) >= MaxSigningKeys {
		return nil, errTooManyKeys
	}
	r.keys = append(r.keys, k)
	if activate {
		if retirePrevious > 0 {
			r.active.retires = now.Add(retirePrevious)
		}
		r.active = k
	}
	return k, nil
}

func (r *keyRing) find(kid string) (int, *signingKey) {
	for i, k := range r.keys {
		if k.kid == kid {
			return i, k
		}
	}
	return -1, nil
}

func (r *keyRing) activate(kid string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, k := r.find(kid)
	if k == nil {
		return errNoSuchKey
	}
	r.active = k
	k.retires = time.Time{}
	return nil
}

// prune unpublishes keys whose retirement time has come (never the active one).
func (r *keyRing) prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.keys[:0]
	for _, k := range r.keys {
		if k == r.active || k.retires.IsZero() || now.Before(k.retires) {
			kept = append(kept, k)
		}
	}
	r.keys = kept
}

func (r *keyRing) remove(kid string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, k := r.find(kid)
	switch {
	case k == nil:
		return errNoSuchKey
	case k == r.active:
		return errActiveKey
	}
	r.keys = append(r.keys[:i:i], r.keys[i+1:]...)
	return nil
}

func (r *keyRing) list() []wire.SigningKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]wire.SigningKey, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, r.view(k))
	}
	return out
}

// describe is the control API's view of one published key.
func (r *keyRing) describe(kid string) (wire.SigningKey, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, k := r.find(kid)
	if k == nil {
		return wire.SigningKey{}, false
	}
	return r.view(k), true
}

func (r *keyRing) view(k *signingKey) wire.SigningKey {
	v := wire.SigningKey{Kid: k.kid, Active: k == r.active, Created: k.created.UTC().Format(time.RFC3339)}
	if !k.retires.IsZero() {
		v.Retires = k.retires.UTC().Format(time.RFC3339Nano)
	}
	return v
}
