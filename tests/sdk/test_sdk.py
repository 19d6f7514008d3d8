"""Microsoft's own client libraries, unpatched, against the Microsoft 365 emulator.

msal signs a user in (authorization code + PKCE) and gets app-only tokens, azure-identity gets app-only
tokens for the Graph SDK, and msgraph-sdk (kiota) creates a chat, a subscription with resource data and a
message whose rich change notification reaches a local HTTPS listener, where its validation tokens are
checked against the published keys and its content decrypted with our certificate's key. Only configuration is used: authority and base URLs,
instance discovery off, the emulator's test CA as the trust anchor (TLS is always verified).

tests/sdk/run.sh starts the emulator and exports its M365_* variables (tests/emulators/graph/README.md §1).

Not reachable from Python: request-body compression (msgraph-sdk for Python sends bodies uncompressed;
microsoft/kiota-http-python issue 393) and MSAL Go's extra client-credentials scopes (MSAL Python sends the
scopes it is given, so the second test gives it that list); tests/sdk/go covers both with the Go libraries
themselves (MSAL Go, kiota-http-go), run by run.sh after this file.
"""

import asyncio
import base64
import datetime
import ipaddress
import json
import os
import queue
import ssl
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import msal
import pytest
import requests
from azure.identity.aio import ClientSecretCredential
from cryptography import x509
from cryptography.hazmat.primitives import constant_time, hashes, hmac, serialization
from cryptography.hazmat.primitives import padding as block_padding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.aad_user_conversation_member import AadUserConversationMember
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.chat import Chat
from msgraph.generated.models.chat_message import ChatMessage
from msgraph.generated.models.chat_type import ChatType
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.subscription import Subscription
from msgraph.graph_request_adapter import options as sdk_default_options
from msgraph_core import GraphClientFactory

ENV = {k: os.environ[k] for k in (
    "M365_LOGIN_URL", "M365_GRAPH_URL", "M365_CA_FILE", "M365_TENANT_ID", "M365_CLIENT_ID", "M365_CLIENT_SECRET")}
LOGIN, GRAPH, CA = ENV["M365_LOGIN_URL"], ENV["M365_GRAPH_URL"], ENV["M365_CA_FILE"]
TENANT, CLIENT_ID, SECRET = ENV["M365_TENANT_ID"], ENV["M365_CLIENT_ID"], ENV["M365_CLIENT_SECRET"]
AUTHORITY = f"{LOGIN}/{TENANT}"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
# A redirect URI registered on the built-in tenant's app; nothing listens there: the test reads the redirect.
REDIRECT_URI = "http://localhost:8065/plugins/com.mattermost.msteams/oauth-redirect"
ADELE = "adele@contoso.onmicrosoft.com"
BIANCA_ID = "a1b2c3d4-0002-4000-8000-000000000002"
GRAPH_HOST = urllib.parse.urlsplit(GRAPH).hostname

# requests lets REQUESTS_CA_BUNDLE (set to the system bundle on our machines) override a Session's own
# `verify`, which is how MSAL passes its `verify` option on: point it at the test CA as well.
os.environ["REQUESTS_CA_BUNDLE"] = CA


def confidential_app():
    # instance_discovery=False: the emulator's login host is not a Microsoft cloud, so MSAL must not ask
    # login.microsoftonline.com about it; verify=CA: trust the emulator's test CA (and verify, always).
    return msal.ConfidentialClientApplication(
        CLIENT_ID, client_credential=SECRET, authority=AUTHORITY, instance_discovery=False, verify=CA)


# ---- a notification endpoint: HTTPS with a certificate from the emulator's test CA ----

class Listener:
    """Answers Graph's validation handshake and queues the notifications it receives."""

    def __init__(self):
        self.validations = 0
        self.items = queue.Queue()
        self.tokens = []  # the validationTokens of the batches received
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                token = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("validationToken")
                if token:
                    # Graph wants the decoded token back as text/plain within 10 s.
                    listener.validations += 1
                    data = token[0].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                batch = json.loads(body)
                listener.tokens.extend(batch.get("validationTokens", []))
                for item in batch.get("value", []):
                    listener.items.put(item)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = self._tls_context().wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/notifications"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def _tls_context():
        # The emulator trusts its own CA for notification URLs (README §1), so sign the listener's
        # certificate with it: the CA key sits beside ca.pem in the emulator's state directory.
        with open(CA, "rb") as f:
            ca_cert = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(os.path.dirname(CA), "ca-key.pem"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), password=None)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sdk-test listener")]))
                .issuer_name(ca_cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(hours=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as d:
            cert_path, key_path = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
            with open(cert_path, "wb") as f:
                f.write(cert.public_bytes(serialization.Encoding.PEM))
            with open(key_path, "wb") as f:
                f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
            ctx.load_cert_chain(cert_path, key_path)
        return ctx

    def next(self, timeout=15):
        return self.items.get(timeout=timeout)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---- rich notifications: our certificate, and Graph's encryption undone (microsoft-graph.md §4) ----

class NotificationKey:
    """The RSA key pair and self-signed certificate a subscriber gives Graph to encrypt resource data with."""

    def __init__(self, cert_id):
        self.cert_id = cert_id
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sdk-test notifications")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .sign(self.key, hashes.SHA256()))
        self.der = self.cert.public_bytes(serialization.Encoding.DER)

    def certificate_base64(self):
        return base64.b64encode(self.der).decode()

    def thumbprint(self):
        digest = hashes.Hash(hashes.SHA1())
        digest.update(self.der)
        return digest.finalize().hex().upper()

    def decrypt(self, content):
        """The resource's JSON from an item's encryptedContent: the symmetric key unwrapped with RSA-OAEP
        (SHA-1), the HMAC-SHA256 signature of the ciphertext checked (in constant time) before anything is
        decrypted, then AES-256-CBC with the key's first 16 bytes as IV and PKCS7 padding."""
        assert content["encryptionCertificateId"] == self.cert_id, content
        assert content["encryptionCertificateThumbprint"] == self.thumbprint(), content
        sym = self.key.decrypt(base64.b64decode(content["dataKey"]),
                               rsa_padding.OAEP(mgf=rsa_padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(),
                                                label=None))
        data = base64.b64decode(content["data"])
        mac = hmac.HMAC(sym, hashes.SHA256())
        mac.update(data)
        assert constant_time.bytes_eq(mac.finalize(), base64.b64decode(content["dataSignature"])), \
            "dataSignature does not match"
        decryptor = Cipher(algorithms.AES(sym), modes.CBC(sym[:16])).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = block_padding.PKCS7(128).unpadder()
        return json.loads(unpadder.update(padded) + unpadder.finalize())


def check_validation_tokens(tokens):
    """Each token is an RS256 JWT signed with a key of the tenant's published key set, for our app, from
    Graph's issuer for the tenant, unexpired (microsoft-graph.md §4)."""
    assert tokens, "a rich notification batch carries validationTokens"
    jwks = requests.get(f"{LOGIN}/{TENANT}/discovery/v2.0/keys", verify=CA, timeout=10).json()
    keys = jwt.PyJWKSet.from_dict(jwks)
    for token in tokens:
        kid = jwt.get_unverified_header(token)["kid"]
        key = next(k for k in keys.keys if k.key_id == kid)
        claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=CLIENT_ID,
                            issuer=f"https://sts.windows.net/{TENANT}/", options={"require": ["exp", "aud", "iss"]})
        assert claims["tid"] == TENANT, claims


# ---- Graph clients: the SDK's own middleware, pointed at the emulator ----

def graph_client(auth_provider):
    # The SDK's default pipeline (retry, redirect, URL replacement of /me, telemetry, ...) on an httpx client
    # whose base URL is the emulator's Graph host and whose trust anchor is the test CA.
    http = httpx.AsyncClient(base_url=f"{GRAPH}/v1.0", verify=ssl.create_default_context(cafile=CA), http2=True,
                             timeout=httpx.Timeout(30, connect=10))
    http = GraphClientFactory.create_with_default_middleware(client=http, options=sdk_default_options)
    return GraphServiceClient(request_adapter=GraphRequestAdapter(auth_provider, client=http)), http


class MsalUserTokens(AccessTokenProvider):
    """Kiota's token-provider interface over MSAL's token cache (silent, refreshing when needed)."""

    def __init__(self, app, account, scopes):
        self.app, self.account, self.scopes = app, account, scopes

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        result = self.app.acquire_token_silent(self.scopes, account=self.account)
        assert result and "access_token" in result, result
        return result["access_token"]

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([GRAPH_HOST])


@pytest.fixture(scope="module")
def signed_in():
    """Adele signs in as a browser would: MSAL builds the authorize URL (PKCE S256, state, nonce), the
    emulator signs in the login_hint user and redirects back, MSAL redeems the code."""
    app = confidential_app()
    scopes = ["https://graph.microsoft.com/User.Read", "https://graph.microsoft.com/Chat.ReadWrite",
              "https://graph.microsoft.com/ChatMessage.Send"]
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT_URI, login_hint=ADELE)
    auth = urllib.parse.urlsplit(flow["auth_uri"])
    q = urllib.parse.parse_qs(auth.query)
    assert q["code_challenge_method"] == ["S256"] and len(q["code_challenge"][0]) == 43, q
    back = requests.get(flow["auth_uri"], allow_redirects=False, verify=CA, timeout=30)
    assert back.status_code == 302, back.text
    location = back.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    auth_response = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert "access_token" in result, result
    return app, result, scopes


def test_tls_is_verified():
    # The emulator's hosts are trusted through its test CA only: a client with the public roots refuses them.
    for url in (f"{LOGIN}/{TENANT}/v2.0/.well-known/openid-configuration", f"{GRAPH}/v1.0/me"):
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url, verify=requests.certs.where(), timeout=10)


def test_sign_in_with_pkce_and_refresh(signed_in):
    app, result, scopes = signed_in
    assert result["id_token_claims"]["preferred_username"] == ADELE
    assert result.get("refresh_token")
    accounts = app.get_accounts(username=ADELE)
    assert len(accounts) == 1, accounts
    # MSAL redeems the refresh token when asked to skip its cache.
    again = app.acquire_token_silent(scopes, account=accounts[0], force_refresh=True)
    assert again and again.get("access_token") and again["access_token"] != result["access_token"], again


def test_app_only_token_with_the_scopes_msal_adds():
    # MSAL Go (apps/internal/oauth/ops/accesstokens: FromClientSecret -> addScopeQueryParam ->
    # AppendDefaultScopes) sends "<resource>/.default openid offline_access profile" on every
    # client-credentials request; Entra issues the app-only token all the same. MSAL Python sends the
    # scopes as given, so give it exactly that list.
    result = confidential_app().acquire_token_for_client(
        [GRAPH_DEFAULT, "openid", "offline_access", "profile"])
    assert "access_token" in result, result
    assert "refresh_token" not in result and "id_token" not in result, sorted(result)
    # and the plain request that MSAL Python and azure-identity send
    plain = confidential_app().acquire_token_for_client([GRAPH_DEFAULT])
    assert "access_token" in plain, plain


def test_graph_sdk_chat_subscription_message_notification(signed_in):
    app, _, scopes = signed_in
    account = app.get_accounts(username=ADELE)[0]
    listener = Listener()

    async def scenario():
        # App-only: azure-identity's ClientSecretCredential (MSAL underneath) through kiota's provider.
        credential = ClientSecretCredential(TENANT, CLIENT_ID, SECRET, authority=LOGIN,
                                            disable_instance_discovery=True, connection_verify=CA)
        app_graph, app_http = graph_client(AzureIdentityAuthenticationProvider(
            credential, scopes=[GRAPH_DEFAULT], allowed_hosts=[GRAPH_HOST]))
        # Delegated: Adele's tokens from MSAL's cache.
        user_graph, user_http = graph_client(BaseBearerTokenAuthenticationProvider(
            MsalUserTokens(app, account, scopes)))
        try:
            registration = await app_graph.applications_with_app_id(CLIENT_ID).get()
            assert registration.app_id == CLIENT_ID and registration.display_name

            me = await user_graph.me.get()
            assert me.user_principal_name == ADELE

            member = lambda user_id: AadUserConversationMember(  # noqa: E731
                roles=["owner"], additional_data={"user@odata.bind": f"{GRAPH}/v1.0/users('{user_id}')"})
            chat = await user_graph.chats.post(Chat(chat_type=ChatType.OneOnOne,
                                                    members=[member(me.id), member(BIANCA_ID)]))
            assert chat.id and chat.chat_type == ChatType.OneOnOne

            expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=50)
            # With resource data: the message comes in the notification, encrypted with our certificate.
            key = NotificationKey("sdk-test-cert-1")
            subscription = await app_graph.subscriptions.post(Subscription(
                change_type="created", notification_url=listener.url, resource=f"chats/{chat.id}/messages",
                expiration_date_time=expires, client_state="sdk-test", include_resource_data=True,
                encryption_certificate=key.certificate_base64(), encryption_certificate_id=key.cert_id))
            assert subscription.id and listener.validations == 1

            sent = await user_graph.chats.by_chat_id(chat.id).messages.post(ChatMessage(
                body=ItemBody(content_type=BodyType.Text, content="hello from msgraph-sdk")))
            assert sent.id and sent.body.content == "hello from msgraph-sdk"

            note = await asyncio.to_thread(listener.next)
            assert note["subscriptionId"] == subscription.id, note
            assert note["changeType"] == "created" and note["clientState"] == "sdk-test", note
            assert note["resourceData"]["id"] == sent.id, note
            assert note["resource"] == f"chats('{chat.id}')/messages('{sent.id}')", note

            # The rich part: trusted only once the batch's validation tokens check out, then decrypted; it is
            # the message as a GET returns it.
            check_validation_tokens(listener.tokens)
            message = key.decrypt(note["encryptedContent"])
            fetched = await user_graph.chats.by_chat_id(chat.id).messages.by_chat_message_id(sent.id).get()
            assert message["id"] == sent.id == fetched.id, message
            assert message["body"]["content"] == fetched.body.content == "hello from msgraph-sdk", message
            assert message["from"]["user"]["id"] == me.id, message
        finally:
            await app_http.aclose()
            await user_http.aclose()
            await credential.close()

    try:
        asyncio.run(scenario())
    finally:
        listener.close()
