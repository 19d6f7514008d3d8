package m365_test

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

func subBody(resource, url string, exp time.Duration) map[string]any {
	return map[string]any{"changeType": "created,updated,deleted", "notificationUrl": url, "resource": resource,
		"expirationDateTime": soon(exp), "clientState": "s3cret"}
}

func TestValidationHandshake(t *testing.T) {
	e := start(t)
	app := e.appToken()
	rc := e.receiver()
	rc.wrongEcho.Store(true)
	r := e.subscribe(app, subBody("/chats/getAllMessages", rc.URL, 30*time.Minute))
	if code, msg := r.graphErr(t); r.status != 400 || code != "InvalidRequest" || !strings.Contains(msg, "validation request failed") {
		t.Fatalf("wrong echo: %d %s", r.status, r.body)
	}
	if subs, _ := e.ctl.Subscriptions(e.ctx); len(subs) != 0 {
		t.Fatal("a subscription was created despite the failed handshake")
	}
	rc.wrongEcho.Store(false)
	rc.validations.Store(0)
	b := subBody("/chats/getAllMessages", rc.URL, 2*time.Hour)
	b["lifecycleNotificationUrl"] = rc.URL
	r = e.subscribe(app, b)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if n := rc.validations.Load(); n != 2 {
		t.Fatalf("want 2 validation POSTs (notification + lifecycle URL), got %d", n)
	}
	s := r.json(t)
	if s["applicationId"] != e.emu.ClientID || s["clientState"] != "s3cret" || s["lifecycleNotificationUrl"] != rc.URL || s["id"] == nil {
		t.Fatalf("subscription: %s", r.body)
	}
	// a dead endpoint fails the handshake too
	dead := subBody("/chats/getAllMessages", "https://127.0.0.1:1/nothing", 30*time.Minute)
	if r := e.subscribe(app, dead); r.status != 400 {
		t.Fatalf("unreachable endpoint: %d", r.status)
	}
	if r := e.subscribe(app, subBody("/chats/getAllMessages", "http://127.0.0.1:9/x", 30*time.Minute)); r.status != 400 {
		t.Fatalf("http URL: %d", r.status)
	}
}

func TestSubscriptionExpirationRules(t *testing.T) {
	e := start(t)
	app := e.appToken()
	rc := e.receiver()
	r := e.subscribe(app, subBody("/chats/getAllMessages", rc.URL, 2*time.Hour))
	if _, msg := r.graphErr(t); r.status != 400 || !strings.Contains(msg, "lifecycleNotificationUrl is a required property") {
		t.Fatalf(">1h without lifecycle URL: %d %s", r.status, r.body)
	}
	b := subBody("/chats/getAllMessages", rc.URL, 73*time.Hour)
	b["lifecycleNotificationUrl"] = rc.URL
	if r := e.subscribe(app, b); r.status != 400 || !strings.Contains(string(r.body), "4320 minutes") {
		t.Fatalf("over 3 days: %d %s", r.status, r.body)
	}
	if r := e.subscribe(app, subBody("/chats/getAllMessages", rc.URL, -time.Minute)); r.status != 400 {
		t.Fatalf("past expiry: %d", r.status)
	}
	r = e.subscribe(app, subBody("/chats/getAllMessages", rc.URL, 50*time.Minute))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	// PATCH past 1 h is refused (no lifecycle URL); within 1 h it renews
	if r := e.graph("PATCH", "/subscriptions/"+id, app, map[string]any{"expirationDateTime": soon(90 * time.Minute)}); r.status != 400 {
		t.Fatalf("patch >1h: %d", r.status)
	}
	if r := e.graph("PATCH", "/subscriptions/"+id, app, map[string]any{"expirationDateTime": soon(55 * time.Minute)}); r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if r := e.graph("PATCH", "/subscriptions/"+id, app, map[string]any{"resource": "x"}); r.status != 400 {
		t.Fatalf("patch resource: %d", r.status)
	}
	if r := e.graph("POST", "/subscriptions/"+id+"/reauthorize", app, nil); r.status != 204 {
		t.Fatalf("reauthorize: %d", r.status)
	}
	if r := e.graph("GET", "/subscriptions", app, nil); len(r.json(t)["value"].([]any)) != 1 {
		t.Fatalf("list: %s", r.body)
	}
	if r := e.graph("DELETE", "/subscriptions/"+id, app, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	if r := e.graph("GET", "/subscriptions/"+id, app, nil); r.status != 404 {
		t.Fatalf("deleted subscription: %d", r.status)
	}
	// permissions: tenant-wide chats needs an application permission
	at, _ := e.userToken(adele)
	if r := e.subscribe(at, subBody("/chats/getAllMessages", rc.URL, 30*time.Minute)); r.status != 403 {
		t.Fatalf("delegated tenant-wide: %d", r.status)
	}
	if r := e.subscribe(at, subBody("/users/"+bianca+"/chats/getAllMessages", rc.URL, 30*time.Minute)); r.status != 403 {
		t.Fatalf("delegated other user's chats: %d", r.status)
	}
	if r := e.subscribe(at, subBody("/me/chats/getAllMessages", rc.URL, 30*time.Minute)); r.status != 201 {
		t.Fatalf("delegated own chats: %d %s", r.status, r.body)
	}
	if r := e.subscribe(app, subBody("/communications/callRecords", rc.URL, 30*time.Minute)); r.status != 400 {
		t.Fatalf("unsupported resource: %d", r.status)
	}
}

func TestSubscriptionQuotas(t *testing.T) {
	e := start(t)
	app := e.appToken()
	rc := e.receiver()
	chat := e.chat(adele, bianca)
	if r := e.subscribe(app, subBody("/chats/"+chat+"/messages", rc.URL, 30*time.Minute)); r.status != 201 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r := e.subscribe(app, subBody("/chats/"+chat+"/messages", rc.URL, 30*time.Minute))
	if code, msg := r.graphErr(t); r.status != 403 || code != "Forbidden" || !strings.Contains(msg, "quota") {
		t.Fatalf("second per chat: %d %s", r.status, r.body)
	}
	for i := 0; i < 10; i++ {
		if r := e.subscribe(app, subBody("/users/"+cameron+"/chats/getAllMessages", rc.URL, 30*time.Minute)); r.status != 201 {
			t.Fatalf("per-user #%d: %d %s", i, r.status, r.body)
		}
	}
	if r := e.subscribe(app, subBody("/users/"+cameron+"/chats/getAllMessages", rc.URL, 30*time.Minute)); r.status != 403 {
		t.Fatalf("11th per user: %d %s", r.status, r.body)
	}
	// the tenant-wide ceiling (10,000 by default; lowered here)
	if _, err := e.ctl.SetQuotas(e.ctx, m365ctl.Quotas{PerTenant: 12}); err != nil {
		t.Fatal(err)
	}
	if r := e.subscribe(app, subBody("/users/"+adele+"/chats/getAllMessages", rc.URL, 30*time.Minute)); r.status != 201 {
		t.Fatalf("12th: %d", r.status)
	}
	r = e.subscribe(app, subBody("/users/"+bianca+"/chats/getAllMessages", rc.URL, 30*time.Minute))
	if _, msg := r.graphErr(t); r.status != 403 || !strings.Contains(msg, "12") {
		t.Fatalf("over tenant quota: %d %s", r.status, r.body)
	}
}

func TestNotificationsDelivered(t *testing.T) {
	e := start(t)
	app := e.appToken()
	rc := e.receiver()
	chat := e.chat(adele, bianca, cameron)
	if r := e.subscribe(app, subBody("/chats/getAllMessages?model=B", rc.URL, 30*time.Minute)); r.status != 201 {
		t.Fatal(string(r.body))
	}
	// a message posted by the bridge (delegated) notifies too: the echo
	at, _ := e.userToken(adele)
	r := e.graph("POST", "/chats/"+chat+"/messages", at, map[string]any{"body": map[string]any{"content": "from bridge"}})
	mid := r.json(t)["id"].(string)
	n := rc.next()
	want := "chats('" + chat + "')/messages('" + mid + "')"
	rd := n["resourceData"].(map[string]any)
	if n["changeType"] != "created" || n["resource"] != want || n["clientState"] != "s3cret" || n["tenantId"] != e.emu.TenantID ||
		rd["id"] != mid || rd["@odata.type"] != "#Microsoft.Graph.chatMessage" || rd["@odata.id"] != want || n["encryptedContent"] != nil {
		t.Fatalf("notification: %v", n)
	}
	// a Teams user edits, reacts, deletes
	if _, err := e.ctl.Edit(e.ctx, m365ctl.InChat(chat), mid, m365ctl.Post{From: adele, Text: "edited"}); err != nil {
		t.Fatal(err)
	}
	if n := rc.next(); n["changeType"] != "updated" {
		t.Fatalf("edit: %v", n)
	}
	e.ctl.React(e.ctx, m365ctl.InChat(chat), mid, bianca, "👍")
	if n := rc.next(); n["changeType"] != "updated" {
		t.Fatalf("react: %v", n)
	}
	e.ctl.Delete(e.ctx, m365ctl.InChat(chat), mid, adele)
	if n := rc.next(); n["changeType"] != "deleted" {
		t.Fatalf("delete: %v", n)
	}
	rc.none(200 * time.Millisecond)
}

func TestPerUserSubscriptionsDuplicateAcrossMembers(t *testing.T) {
	e := start(t)
	app := e.appToken()
	rc := e.receiver()
	chat := e.chat(adele, bianca, cameron)
	subs := map[string]bool{}
	for _, u := range []string{adele, bianca, cameron} {
		r := e.subscribe(app, subBody("/users/"+u+"/chats/getAllMessages", rc.URL, 30*time.Minute))
		subs[r.json(t)["id"].(string)] = true
	}
	e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: bianca, Text: "hi all"})
	got := map[string]bool{}
	for i := 0; i < 3; i++ {
		n := rc.next()
		got[n["subscriptionId"].(string)] = true
	}
	if len(got) != 3 {
		t.Fatalf("one notification per subscription expected, got %v", got)
	}
	rc.none(200 * time.Millisecond)
	// a chat only Adele and Bianca are in: Cameron's subscription stays quiet
	pair := e.chat(adele, bianca)
	e.ctl.Send(e.ctx, m365ctl.InChat(pair), m365ctl.Post{From: adele, Text: "pair"})
	rc.next()
	rc.next()
	rc.none(200 * time.Millisecond)
}

// ---- an independent implementation of the documented decryption ----

func decryptIndependently(t *testing.T, key *rsa.PrivateKey, ec map[string]any) []byte {
	t.Helper()
	b64 := func(k string) []byte {
		s, _ := ec[k].(string)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return b
	}
	sym, err := rsa.DecryptOAEP(sha1.New(), nil, key, b64("dataKey"), nil)
	if err != nil {
		t.Fatalf("RSA-OAEP-SHA1: %v", err)
	}
	if len(sym) != 32 {
		t.Fatalf("symmetric key is %d bytes", len(sym))
	}
	data := b64("data")
	mac := hmac.New(sha256.New, sym)
	mac.Write(data)
	if !hmac.Equal(mac.Sum(nil), b64("dataSignature")) {
		t.Fatal("HMAC-SHA256 over the decoded data does not match dataSignature")
	}
	block, _ := aes.NewCipher(sym)
	if len(data)%16 != 0 {
		t.Fatal("ciphertext is not whole blocks")
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, sym[:16]).CryptBlocks(plain, data)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > 16 {
		t.Fatalf("bad PKCS7 padding %d", pad)
	}
	for _, p := range plain[len(plain)-pad:] {
		if int(p) != pad {
			t.Fatal("bad PKCS7 padding bytes")
		}
	}
	return plain[:len(plain)-pad]
}

func selfSigned(t testing.TB) (*rsa.PrivateKey, []byte) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "bridge notifications"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

// verifyJWT checks an RS256 JWT against the emulator's JWKS, independently.
func verifyJWT(t *testing.T, e *env, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %s", tok)
	}
	var hdr struct{ Alg, Kid string }
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	json.Unmarshal(hb, &hdr)
	if hdr.Alg != "RS256" {
		t.Fatalf("alg %s", hdr.Alg)
	}
	jwks := e.do("GET", e.emu.LoginURL+"/common/discovery/v2.0/keys", "", nil).json(t)
	var pub *rsa.PublicKey
	for _, k := range jwks["keys"].([]any) {
		km := k.(map[string]any)
		if km["kid"] == hdr.Kid {
			n, _ := base64.RawURLEncoding.DecodeString(km["n"].(string))
			eb, _ := base64.RawURLEncoding.DecodeString(km["e"].(string))
			pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(eb).Int64())}
		}
	}
	if pub == nil {
		t.Fatalf("kid %s not in JWKS", hdr.Kid)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("JWT signature: %v", err)
	}
	var claims map[string]any
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(pb, &claims)
	return claims
}

func TestEncryptedNotifications(t *testing.T) {
	e := start(t)
	app := e.appToken()
	rc := e.receiver()
	chat := e.chat(adele, bianca)
	key, der := selfSigned(t)
	b := subBody("/chats/"+chat+"/messages", rc.URL, 30*time.Minute)
	b["includeResourceData"] = true
	b["encryptionCertificate"] = base64.StdEncoding.EncodeToString(der)
	b["encryptionCertificateId"] = "bridge-cert-1"
	if r := e.subscribe(app, b); r.status != 201 {
		t.Fatalf("subscribe: %d %s", r.status, r.body)
	}
	sent, err := e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: bianca, HTML: `<p>secret <b>plans</b></p>`})
	if err != nil {
		t.Fatal(err)
	}
	n := rc.next()
	ec := n["encryptedContent"].(map[string]any)
	sum := sha1.Sum(der)
	if ec["encryptionCertificateId"] != "bridge-cert-1" || ec["encryptionCertificateThumbprint"] != strings.ToUpper(hex.EncodeToString(sum[:])) {
		t.Fatalf("certificate identification: %v", ec)
	}
	var msg map[string]any
	if err := json.Unmarshal(decryptIndependently(t, key, ec), &msg); err != nil {
		t.Fatal(err)
	}
	if msg["id"] != sent.ID || msg["body"].(map[string]any)["content"] != `<p>secret <b>plans</b></p>` || msg["chatId"] != chat {
		t.Fatalf("decrypted: %v", msg)
	}
	// the same JSON a GET returns
	at, _ := e.userToken(adele)
	got := e.graph("GET", "/chats/"+chat+"/messages/"+sent.ID, at, nil).json(t)
	delete(got, "@odata.context")
	gb, _ := json.Marshal(got)
	mb, _ := json.Marshal(msg)
	if string(gb) != string(mb) {
		t.Fatalf("decrypted content differs from GET:\n%s\n%s", mb, gb)
	}
	// validationTokens: signed, with the documented claims
	rc.mu.Lock()
	toks := append([]string(nil), rc.tokens...)
	rc.mu.Unlock()
	if len(toks) != 1 {
		t.Fatalf("want 1 validation token, got %d", len(toks))
	}
	claims := verifyJWT(t, e, toks[0])
	if claims["aud"] != e.emu.ClientID || claims["iss"] != "https://sts.windows.net/"+e.emu.TenantID+"/" ||
		claims["appid"] != "0bf30f3b-4a52-48df-9a82-234910c4a086" || claims["tid"] != e.emu.TenantID {
		t.Fatalf("claims: %v", claims)
	}
	if exp := int64(claims["exp"].(float64)); exp < time.Now().Add(time.Hour).Unix() {
		t.Fatalf("exp too soon: %d", exp)
	}
	// a second message: a fresh key per item
	e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: bianca, Text: "again"})
	n2 := rc.next()
	if n2["encryptedContent"].(map[string]any)["dataKey"] == ec["dataKey"] {
		t.Fatal("symmetric key reused across items")
	}
	// includeResourceData without a certificate is refused
	b2 := subBody("/users/"+adele+"/chats/getAllMessages", rc.URL, 30*time.Minute)
	b2["includeResourceData"] = true
	if r := e.subscribe(app, b2); r.status != 400 {
		t.Fatalf("no certificate: %d", r.status)
	}
}

func TestDeliveryRetriesAndFaults(t *testing.T) {
	e := start(t, func(o *m365.Options) { o.Delivery.Timeout = 250 * time.Millisecond })
	app := e.appToken()
	rc := e.receiver()
	chat := e.chat(adele, bianca)
	e.subscribe(app, subBody("/chats/getAllMessages", rc.URL, 30*time.Minute))
	send := func(text string) string {
		m, err := e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: adele, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	id := func(n map[string]any) string { return n["resourceData"].(map[string]any)["id"].(string) }

	// the endpoint fails twice with 503: delivered on the third attempt
	rc.failNext.Store(2)
	mid := send("retry me")
	if got := id(rc.next()); got != mid {
		t.Fatalf("got %s", got)
	}
	st, _ := e.ctl.WaitDeliveries(e.ctx, 5*time.Second)
	if st.FailedAttempts != 2 || st.Retries != 2 {
		t.Fatalf("stats after failures: %+v", st)
	}
	// slower than the timeout: retried and delivered (twice: the slow one
	// was processed late by the endpoint, at-least-once)
	rc.slowNext.Store(1)
	mid = send("slow")
	if a, b := id(rc.next()), id(rc.next()); a != mid || b != mid {
		t.Fatalf("slow endpoint: got %s and %s", a, b)
	}
	if st, _ := e.ctl.WaitDeliveries(e.ctx, 5*time.Second); st.FailedAttempts != 3 {
		t.Fatalf("the timeout should count as a failed attempt: %+v", st)
	}
	// duplicated delivery on demand
	e.ctl.SetFaults(e.ctx, m365ctl.Faults{DuplicateDeliveries: 1})
	mid = send("twice")
	a, b := rc.next(), rc.next()
	if id(a) != mid || id(b) != mid {
		t.Fatalf("duplicate: %v %v", a, b)
	}
	rc.none(200 * time.Millisecond)
	// dropped delivery on demand
	e.ctl.SetFaults(e.ctx, m365ctl.Faults{DropDeliveries: 1})
	send("lost")
	rc.none(300 * time.Millisecond)
	mid = send("found")
	if got := id(rc.next()); got != mid {
		t.Fatal("delivery did not resume after the drop")
	}
	c, _ := e.ctl.Counters(e.ctx)
	if c.Delivery.Duplicated != 1 || c.Delivery.DroppedByFault != 1 || c.Delivery.FailedAttempts != 3 {
		t.Fatalf("counters: %+v", c.Delivery)
	}
	if recs, _ := e.ctl.Deliveries(e.ctx); len(recs) < 5 || recs[0].Status != 503 {
		t.Fatalf("delivery log: %+v", recs)
	}
}

func TestLifecycleNotifications(t *testing.T) {
	e := start(t, func(o *m365.Options) { o.Delivery.LifecycleLead = 59 * time.Minute })
	app := e.appToken()
	rc := e.receiver()
	lc := e.receiver()
	b := subBody("/chats/getAllMessages", rc.URL, 2*time.Hour)
	b["lifecycleNotificationUrl"] = lc.URL
	r := e.subscribe(app, b)
	id := r.json(t)["id"].(string)
	if _, err := e.ctl.SendLifecycle(e.ctx, id, m365ctl.Missed); err != nil {
		t.Fatal(err)
	}
	if n := lc.next(); n["lifecycleEvent"] != "missed" || n["subscriptionId"] != id || n["clientState"] != "s3cret" {
		t.Fatalf("missed: %v", n)
	}
	sent, err := e.ctl.RemoveSubscription(e.ctx, id)
	if err != nil || !sent {
		t.Fatalf("remove: %v %v", sent, err)
	}
	if n := lc.next(); n["lifecycleEvent"] != "subscriptionRemoved" {
		t.Fatalf("removed: %v", n)
	}
	if r := e.graph("GET", "/subscriptions/"+id, app, nil); r.status != 404 {
		t.Fatalf("removed subscription still there: %d", r.status)
	}
	// reauthorizationRequired ahead of expiry (lead set to 59 min here)
	b["expirationDateTime"] = soon(58 * time.Minute)
	id = e.subscribe(app, b).json(t)["id"].(string)
	if n := lc.next(); n["lifecycleEvent"] != "reauthorizationRequired" || n["subscriptionId"] != id {
		t.Fatalf("reauth: %v", n)
	}
	// and when the creator's tokens are revoked (delegated subscription)
	at, _ := e.userToken(bianca)
	b2 := subBody("/me/chats/getAllMessages", rc.URL, 30*time.Minute)
	b2["lifecycleNotificationUrl"] = lc.URL
	did := e.subscribe(at, b2).json(t)["id"].(string)
	e.ctl.RevokeTokens(e.ctx, m365ctl.Revoke{UserID: bianca})
	if n := lc.next(); n["lifecycleEvent"] != "reauthorizationRequired" || n["subscriptionId"] != did {
		t.Fatalf("reauth after revoke: %v", n)
	}
	// expiry removes the subscription
	e.ctl.ExpireSubscription(e.ctx, did)
	subs, _ := e.ctl.Subscriptions(e.ctx)
	for _, s := range subs {
		if s.ID == did {
			t.Fatal("expired subscription still listed")
		}
	}
}

func TestThrottling(t *testing.T) {
	e := start(t)
	if err := e.ctl.EnableThrottle(e.ctx, true); err != nil {
		t.Fatal(err)
	}
	chat := e.chat(adele, bianca)
	at, _ := e.userToken(adele)
	// 1 request per second per app on one chat
	if r := e.graph("GET", "/chats/"+chat+"/messages", at, nil); r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r := e.graph("GET", "/chats/"+chat+"/messages", at, nil)
	if r.status != 429 {
		t.Fatalf("second within a second: %d", r.status)
	}
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	m := r.json(t)["error"].(map[string]any)
	inner := m["innerError"].(map[string]any)
	if m["code"] != "TooManyRequests" || m["message"] != "Please retry again later." || inner["code"] != "429" || inner["status"] != "429" {
		t.Fatalf("429 body: %s", r.body)
	}
	// another chat is not affected
	other := e.chat(adele, cameron)
	if r := e.graph("GET", "/chats/"+other+"/messages", at, nil); r.status != 200 {
		t.Fatalf("other chat: %d", r.status)
	}
	// after Retry-After the call passes again
	time.Sleep(time.Duration(ra) * time.Second)
	if r := e.graph("GET", "/chats/"+chat+"/messages", at, nil); r.status != 200 {
		t.Fatalf("after Retry-After: %d", r.status)
	}
	// per-tenant limit, lowered; then switched off
	e.ctl.SetThrottle(e.ctx, m365ctl.ThrottleUpdate{Limits: map[string]m365ctl.Limit{"identity.app": {Count: 3, PerSeconds: 10}}})
	app := e.appToken()
	codes := map[int]int{}
	for i := 0; i < 5; i++ {
		codes[e.graph("GET", "/users/"+adele, app, nil).status]++
	}
	if codes[200] != 3 || codes[429] != 2 {
		t.Fatalf("identity limit: %v", codes)
	}
	e.ctl.EnableThrottle(e.ctx, false)
	for i := 0; i < 5; i++ {
		if r := e.graph("GET", "/users/"+adele, app, nil); r.status != 200 {
			t.Fatalf("throttle off: %d", r.status)
		}
	}
	c, _ := e.ctl.Counters(e.ctx)
	if c.Throttled["chatMessageGet.thread"] != 1 || c.Count("graph", "GET /v1.0/users/{uid}", "app", 429) != 2 {
		t.Fatalf("throttle counters: %v", c.Throttled)
	}
	// $batch items are throttled individually
	e.ctl.EnableThrottle(e.ctx, true)
	var reqs []any
	for i := 0; i < 3; i++ {
		reqs = append(reqs, map[string]any{"id": strconv.Itoa(i), "method": "GET", "url": "/chats/" + other + "/messages"})
	}
	time.Sleep(1100 * time.Millisecond)
	br := e.graph("POST", "/$batch", at, map[string]any{"requests": reqs})
	n429 := 0
	for _, x := range br.json(t)["responses"].([]any) {
		xm := x.(map[string]any)
		if xm["status"].(float64) == 429 {
			n429++
			if xm["headers"].(map[string]any)["Retry-After"] == nil {
				t.Fatal("batch item 429 without Retry-After")
			}
		}
	}
	if br.status != 200 || n429 != 2 {
		t.Fatalf("batch throttling: %d, %d throttled: %s", br.status, n429, br.body)
	}
}

func TestSlowEndpointRules(t *testing.T) {
	e := start(t, func(o *m365.Options) {
		o.Delivery.SlowEndpointRules = true
		o.Delivery.SlowThreshold = time.Nanosecond // every publish counts as slow
		o.Delivery.MaxBatch = 1
	})
	app := e.appToken()
	rc := e.receiver()
	chat := e.chat(adele, bianca)
	e.subscribe(app, subBody("/chats/"+chat+"/messages", rc.URL, 30*time.Minute))
	for i := 0; i < 100; i++ {
		e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: adele, Text: "x"})
		rc.next()
	}
	// the endpoint saw 100 before the emulator finished accounting for them
	if _, err := e.ctl.WaitDeliveries(e.ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: adele, Text: "dropped"})
	rc.none(200 * time.Millisecond)
	c, _ := e.ctl.Counters(e.ctx)
	if c.Delivery.DroppedSlow != 1 || c.Delivery.Slow != 100 {
		t.Fatalf("slow endpoint: %+v", c.Delivery)
	}
}

// Channel messages also count against the team (4 per second per app) and, for posts, the channel's 3,000 messages
// per app per day; both are configurable like every limit.
func TestChannelTeamAndDailyLimits(t *testing.T) {
	e := start(t)
	if err := e.ctl.EnableThrottle(e.ctx, true); err != nil {
		t.Fatal(err)
	}
	defaults, err := e.ctl.SetThrottle(e.ctx, m365ctl.ThrottleUpdate{})
	if err != nil {
		t.Fatal(err)
	}
	if l := defaults.Limits["channelTeam.team"]; l.Count != 4 || l.PerSeconds != 1 {
		t.Fatalf("team limit: %+v", l)
	}
	if l := defaults.Limits["channelMessageDaily.thread"]; l.Count != 3000 || l.PerSeconds != 86400 {
		t.Fatalf("daily limit: %+v", l)
	}
	fast := m365ctl.Limit{Count: 100, PerSeconds: 1}
	e.ctl.SetThrottle(e.ctx, m365ctl.ThrottleUpdate{Limits: map[string]m365ctl.Limit{
		"channelMessagePost.thread": fast, "channelMessagePost.userThread": fast, "channelMessageGet.thread": fast,
		"channelTeam.team": {Count: 3, PerSeconds: 60}, "channelMessageDaily.thread": {Count: 2, PerSeconds: 86400}}})
	ch := generalChannel(t, e)
	at, _ := e.userToken(adele)
	base := "/teams/" + teamID + "/channels/" + ch + "/messages"
	post := func() resp {
		return e.graph("POST", base, at, map[string]any{"body": map[string]any{"content": "hi"}})
	}
	if r := post(); r.status != 201 {
		t.Fatalf("first post: %d %s", r.status, r.body)
	}
	if r := post(); r.status != 201 {
		t.Fatalf("second post: %d %s", r.status, r.body)
	}
	r := post()
	if r.status != 429 || r.json(t)["error"].(map[string]any)["innerError"].(map[string]any)["limit"] != "channelMessageDaily.thread" {
		t.Fatalf("the channel's day is full: %d %s", r.status, r.body)
	}
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 3600 {
		t.Fatalf("Retry-After of a full day: %q", r.header.Get("Retry-After"))
	}
	// A read of the team's channels takes the team's third turn; the fourth request waits.
	if r := e.graph("GET", base, at, nil); r.status != 200 {
		t.Fatalf("read: %d %s", r.status, r.body)
	}
	r = e.graph("GET", base, at, nil)
	if r.status != 429 || r.json(t)["error"].(map[string]any)["innerError"].(map[string]any)["limit"] != "channelTeam.team" {
		t.Fatalf("the team's budget: %d %s", r.status, r.body)
	}
}
