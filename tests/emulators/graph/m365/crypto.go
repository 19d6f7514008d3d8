package m365

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// NotificationPublisherAppID is the appid claim of Graph's validation tokens.
const NotificationPublisherAppID = "0bf30f3b-4a52-48df-9a82-234910c4a086"

// EncryptedContent is a changeNotificationEncryptedContent.
type EncryptedContent struct {
	Data                            string `json:"data"`
	DataSignature                   string `json:"dataSignature"`
	DataKey                         string `json:"dataKey"`
	EncryptionCertificateID         string `json:"encryptionCertificateId"`
	EncryptionCertificateThumbprint string `json:"encryptionCertificateThumbprint"`
}

// encryptContent encrypts one resource as Graph documents it: a fresh
// 32-byte key K; IV = K[:16]; data = AES-256-CBC-PKCS7(K, IV, plaintext);
// dataSignature = HMAC-SHA256(K, ciphertext bytes); dataKey = RSA-OAEP with
// SHA-1 and MGF1-SHA1 of K under the subscriber's certificate key.
func encryptContent(pub *rsa.PublicKey, certID, thumb string, plaintext []byte) (*EncryptedContent, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := make([]byte, len(plaintext)+pad)
	copy(buf, plaintext)
	copy(buf[len(plaintext):], bytes.Repeat([]byte{byte(pad)}, pad))
	cipher.NewCBCEncrypter(block, key[:aes.BlockSize]).CryptBlocks(buf, buf)
	mac := hmac.New(sha256.New, key)
	mac.Write(buf)
	wrapped, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, key, nil)
	if err != nil {
		return nil, err
	}
	enc := base64.StdEncoding.EncodeToString
	return &EncryptedContent{Data: enc(buf), DataSignature: enc(mac.Sum(nil)), DataKey: enc(wrapped),
		EncryptionCertificateID: certID, EncryptionCertificateThumbprint: thumb}, nil
}

// validationToken returns a cached RS256 JWT for (app, tenant), re-signed
// when less than an hour of its 8-hour life remains.
func (d *deliverer) validationToken(appID string) string {
	now := time.Now()
	d.tokMu.Lock()
	defer d.tokMu.Unlock()
	if t, ok := d.tokens[appID]; ok && t.exp.Sub(now) > time.Hour {
		return t.jwt
	}
	exp := now.Add(8 * time.Hour)
	e := d.e
	jwt := e.signJWT(map[string]any{
		"aud": appID, "iss": e.issuerV1(e.TenantID), "iat": now.Unix(), "nbf": now.Unix(),
		"exp": exp.Unix(), "aio": randomToken(24), "appid": NotificationPublisherAppID, "appidacr": "2",
		"idp": e.issuerV1(e.TenantID), "tid": e.TenantID, "uti": randomToken(16), "ver": "1.0",
	})
	d.tokens[appID] = cachedToken{jwt: jwt, exp: exp}
	return jwt
}

type cachedToken struct {
	jwt string
	exp time.Time
}
