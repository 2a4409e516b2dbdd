#!/usr/bin/env python3
"""Operator credentials are bound to their upstream (code review 2026-12, §0 S1).

The operator configured credentials for a token server (https://127.0.0.1:T, the realm of
the legitimate default upstream, a token-auth docker-registry on http://127.0.0.1:R). A
second configured upstream, "evil.test" (a TLS registry of ours at https://localhost:E, no
credentials of its own), answers 401 with
    Bearer realm="https://127.0.0.1:T/token",service="regtest",
           scope="repository:operator/private:pull,push"
which is the exfiltration the review reproduced: regcache must ask that realm anonymously,
for `repository:<pulled name>:pull` only, and evil must never be handed a token minted with
the operator's credentials. The legitimate upstream keeps getting its credentialed tokens.

Also: a realm given as http:// gets no credentials for an https upstream (it does for an
http:// one), a challenge never widens the scope regcache asks for, and a config-file
"auth_hosts" entry (exact host:port) lets a realm on another host receive the credentials.

Evil is reached as a configured upstream (?ns=evil.test) because an unconfigured ?ns= on
loopback is refused outright (test_security_ssrf.py). Its host is "localhost" while the token
server's is 127.0.0.1, so the realm is on another host than the registry. Not covered
offline: Docker Hub's auth.docker.io rule and the parent-domain rule (they need DNS names).

Run: python3 tests/integration/test_security_credentials.py --regcache build/regcache
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regtest as rt  # noqa: E402
import authtest as at  # noqa: E402
import sectest as st  # noqa: E402

OPERATOR, OPERATOR_PASSWORD = "operator", "operator-secret-4b7e"
UPSTREAM_USER, UPSTREAM_PASSWORD = "upstream-user", "upstream-secret-91c2"
USERS = {OPERATOR: OPERATOR_PASSWORD, UPSTREAM_USER: UPSTREAM_PASSWORD}
EVIL_NAME = "evil.test"
EVIL_SCOPE = "repository:operator/private:pull,push"
ACCEPT = {"Accept": rt.ALL_MANIFEST_TYPES}


def operator_policy(name, actions, user):
    """authtest.default_policy, plus operator/* for the operator: what evil's challenge is
    after."""
    if name.startswith("operator/") and user == OPERATOR:
        return [a for a in actions if a in ("pull", "push")]
    return at.default_policy(name, actions, user)


def brief(r):
    return "%d %s" % (r.status, r.body[:120]) if hasattr(r, "status") else repr(r)


def pull_scope(name):
    return "repository:%s:pull" % name


class CredentialBinding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = rt.mkdtemp()
        pki = os.path.join(cls.tmp, "pki")
        cls.ca, ca_key = rt.make_ca(pki)
        ip_cert = rt.make_server_cert(pki, cls.ca, ca_key, "loopback-ip", "IP:127.0.0.1")
        name_cert = rt.make_server_cert(pki, cls.ca, ca_key, "localhost-name", "DNS:localhost")
        cls.signer = at.JwtSigner(os.path.join(cls.tmp, "signer"))

        # The operator's token server (TLS, so that only the realm's host is in question), and
        # a plain-HTTP one for the http:// realm cases.
        cls.tokens = st.placed(st.TokenServer, tls=ip_cert, signer=cls.signer, users=USERS,
                                 policy=operator_policy)
        cls.addClassCleanup(cls.tokens.stop)
        cls.plain_tokens = st.placed(st.TokenServer, signer=cls.signer, users=USERS,
                                 policy=operator_policy)
        cls.addClassCleanup(cls.plain_tokens.stop)

        # The legitimate upstream: a real token-auth registry whose realm is the operator's.
        cls.legit = at.AuthRegistry(cls.tmp, "legit", token=(
            cls.tokens.realm, cls.tokens.service, cls.tokens.issuer, cls.signer.cert_path)).start()
        cls.addClassCleanup(cls.legit.stop)
        layout = os.path.join(cls.tmp, "src")
        cls.img = rt.make_oci_image(layout, "priv", [8 * rt.KiB, 300 * rt.KiB + 5], seed=9101)
        at.push_with_creds(layout, "priv", cls.legit.host, "private/img",
                           (OPERATOR, OPERATOR_PASSWORD), tag="1")

        def fake(tls, realm, scope="repository:{name}:pull", name=None):
            server = st.placed(st.FakeRegistry, tls=tls, name=name, realm=realm, scope=scope)
            cls.addClassCleanup(server.stop)
            return server

        # Evil: another host (localhost) naming the operator's realm and a push scope.
        cls.evil = fake(name_cert, cls.tokens.realm, EVIL_SCOPE, name="localhost")
        # Same-host TLS registries whose challenges ask for more than a pull.
        cls.asks_push = fake(ip_cert, cls.tokens.realm, "repository:{name}:pull,push,delete")
        cls.asks_other = fake(ip_cert, cls.tokens.realm, "repository:operator/private:pull")
        # Registries with an http:// realm: one over TLS, one over plain HTTP.
        cls.https_with_http_realm = fake(ip_cert, cls.plain_tokens.realm)
        cls.http_with_http_realm = fake(None, cls.plain_tokens.realm)
        cls.n = 0

    # -- helpers

    @classmethod
    def operator_credentials(cls, *servers):
        return [{"host": s.host, "username": OPERATOR, "password": OPERATOR_PASSWORD}
                for s in servers]

    def evil_entry(self, **extra):
        entry = {"host": EVIL_NAME, "url": self.evil.url}
        entry.update(extra)
        return entry

    def regcache(self, name, upstreams=(), credentials=None):
        """A regcache whose default upstream is the legitimate registry, with the operator's
        credentials for the TLS token server unless `credentials` is given."""
        type(self).n += 1
        config = {"credentials": self.operator_credentials(self.tokens)
                  if credentials is None else credentials,
                  "upstreams": list(upstreams)}
        rc = at.AuthRegcache(rt.REGCACHE, self.tmp, self.legit.url, config=config,
                             extra_args=["--upstream-ca-file", self.ca],
                             name="regcache-%d-%s" % (self.n, name)).start()
        self.addCleanup(rc.stop)
        return rc

    def ask(self, rc, upstream_name, repository="evil/bait"):
        """GET a manifest of `repository` through regcache from the upstream named
        upstream_name (?ns=); returns the answer (any status)."""
        return rc.get("/v2/%s/manifests/1?ns=%s" % (repository, upstream_name), ACCEPT)

    def assertAnonymous(self, requests, what):
        for r in requests:
            if r.header("Authorization") is not None:   # never print the header itself
                self.fail("%s: the token server received credentials (Basic user %r): %r" % (
                    what, st.basic_user_of(r.header("Authorization")), r))

    def assertCredentialed(self, requests, user, what):
        self.assertTrue(requests, "%s: the token server received no request" % what)
        for r in requests:
            self.assertEqual(st.basic_user_of(r.header("Authorization")), user,
                             "%s: token request without %s's Basic credentials: %r" % (
                                 what, user, r))

    # -- the exfiltration of review §0

    def test_a_realm_named_by_another_registry_gets_no_operator_credentials(self):
        rc = self.regcache("evil-realm", [self.evil_entry()])
        mark = self.tokens.mark()
        r = self.ask(rc, EVIL_NAME)
        self.assertAnonymous(self.tokens.since(mark), "evil's challenge (answer %s)" % brief(r))

    def test_the_token_request_for_evils_challenge_asks_only_pull_of_the_pulled_name(self):
        rc = self.regcache("evil-scope", [self.evil_entry()])
        mark = self.tokens.mark()
        r = self.ask(rc, EVIL_NAME)
        requests = self.tokens.since(mark)
        self.assertTrue(requests, "regcache never asked the realm for a token: %s" % brief(r))
        for req in requests:
            self.assertEqual(req.query.get("scope"), [pull_scope("evil/bait")],
                             "evil's challenge named %r; the token server saw %r" % (
                                 EVIL_SCOPE, req))

    def test_another_registry_never_receives_a_token_minted_with_operator_credentials(self):
        rc = self.regcache("evil-token", [self.evil_entry()])
        mark = self.evil.mark()
        r = self.ask(rc, EVIL_NAME)
        tokens = self.evil.bearer_tokens(since=mark)
        self.assertTrue(tokens, "evil was never retried with a token; answer %s" % brief(r))
        for token in tokens:
            claims = st.jwt_claims(token)
            self.assertNotEqual(claims.get("sub"), OPERATOR,
                                "evil received a token minted for the operator: %r" % claims)
            for entry in claims.get("access", []):
                self.assertNotIn("push", entry.get("actions", []),
                                 "evil received a push token: %r" % claims)

    def test_the_legitimate_upstream_pulls_a_private_image_with_the_operator_credentials(self):
        rc = self.regcache("legit", [self.evil_entry()])
        mark = self.tokens.mark()
        top, _mt, digests = rt.pull(rc.host, "private/img:1", os.path.join(rc.workdir, "pulled"))
        self.assertEqual(top, self.img.manifest_digest)
        self.assertEqual(digests, self.img.all_digests)
        self.assertCredentialed(self.tokens.since(mark), OPERATOR, "the legitimate upstream")

    def test_the_legitimate_upstream_keeps_its_credentials_after_evil_was_refused_them(self):
        rc = self.regcache("legit-after-evil", [self.evil_entry()])
        self.ask(rc, EVIL_NAME)
        mark = self.tokens.mark()
        r = rc.get("/v2/private/img/manifests/1", ACCEPT)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(rt.sha256_bytes(r.body), self.img.manifest_digest)
        self.assertCredentialed(self.tokens.since(mark), OPERATOR, "the legitimate upstream")

    # -- scopes are clamped for every upstream

    def test_a_challenge_asking_push_and_delete_gets_a_pull_only_token_request(self):
        rc = self.regcache("asks-push", [{"url": self.asks_push.url}])
        mark = self.tokens.mark()
        r = self.ask(rc, self.asks_push.host, "team/app")
        requests = self.tokens.since(mark)
        self.assertTrue(requests, "regcache never asked the realm for a token: %s" % brief(r))
        for req in requests:
            self.assertEqual(req.query.get("scope"), [pull_scope("team/app")], repr(req))

    def test_a_challenge_naming_another_repository_gets_a_token_request_for_the_pulled_one(self):
        rc = self.regcache("asks-other", [{"url": self.asks_other.url}])
        mark = self.tokens.mark()
        r = self.ask(rc, self.asks_other.host, "team/app")
        requests = self.tokens.since(mark)
        self.assertTrue(requests, "regcache never asked the realm for a token: %s" % brief(r))
        for req in requests:
            self.assertEqual(req.query.get("scope"), [pull_scope("team/app")], repr(req))

    # -- never over plain HTTP

    def test_an_http_realm_of_an_https_upstream_gets_no_credentials(self):
        # The realm is on the registry's own host and listed in auth_hosts: only its scheme
        # keeps the credentials back.
        upstream = self.https_with_http_realm
        rc = self.regcache("https-http-realm", [{
            "url": upstream.url, "username": UPSTREAM_USER, "password": UPSTREAM_PASSWORD,
            "auth_hosts": [self.plain_tokens.host]}],
            credentials=self.operator_credentials(self.tokens, self.plain_tokens))
        mark, up_mark = self.plain_tokens.mark(), upstream.mark()
        r = self.ask(rc, upstream.host, "team/app")
        self.assertTrue(upstream.recorded(since=up_mark),
                        "the upstream was never asked: %s" % brief(r))
        self.assertAnonymous(self.plain_tokens.since(mark), "http:// realm, https upstream")

    def test_an_http_realm_of_an_http_upstream_gets_the_credentials(self):
        upstream = self.http_with_http_realm
        rc = self.regcache("http-http-realm", [{
            "url": upstream.url, "username": UPSTREAM_USER, "password": UPSTREAM_PASSWORD,
            "auth_hosts": [self.plain_tokens.host]}], credentials=[])
        mark = self.plain_tokens.mark()
        r = self.ask(rc, upstream.host, "team/app")
        self.assertCredentialed(self.plain_tokens.since(mark), UPSTREAM_USER,
                                "http:// realm, http upstream (answer %s)" % brief(r))

    # -- auth_hosts

    def test_a_realm_listed_in_auth_hosts_gets_the_credentials_configured_for_it(self):
        rc = self.regcache("auth-hosts", [self.evil_entry(auth_hosts=[self.tokens.host])])
        mark = self.tokens.mark()
        r = self.ask(rc, EVIL_NAME)
        self.assertCredentialed(self.tokens.since(mark), OPERATOR,
                                "realm in auth_hosts (answer %s)" % brief(r))

    def test_a_realm_listed_in_auth_hosts_gets_the_upstreams_own_credentials(self):
        rc = self.regcache("auth-hosts-own", [self.evil_entry(
            username=UPSTREAM_USER, password=UPSTREAM_PASSWORD, auth_hosts=[self.tokens.host])],
            credentials=[])
        mark = self.tokens.mark()
        r = self.ask(rc, EVIL_NAME)
        self.assertCredentialed(self.tokens.since(mark), UPSTREAM_USER,
                                "realm in auth_hosts, the upstream's own credentials (%s)"
                                % brief(r))

    def test_an_auth_hosts_entry_with_another_port_does_not_admit_the_realm(self):
        rc = self.regcache("auth-hosts-port", [self.evil_entry(
            auth_hosts=["127.0.0.1:%d" % self.plain_tokens.port])])
        mark = self.tokens.mark()
        r = self.ask(rc, EVIL_NAME)
        self.assertAnonymous(self.tokens.since(mark),
                             "auth_hosts names another port (%s)" % brief(r))

    def test_another_registrys_own_credentials_are_not_sent_to_a_realm_off_its_host(self):
        # Evil has credentials of its own; its realm (127.0.0.1) is neither its host
        # (localhost) nor listed: the token request is anonymous.
        rc = self.regcache("evil-own-creds", [self.evil_entry(
            username=UPSTREAM_USER, password=UPSTREAM_PASSWORD)], credentials=[])
        mark = self.tokens.mark()
        r = self.ask(rc, EVIL_NAME)
        self.assertAnonymous(self.tokens.since(mark),
                             "a realm off the registry's host (%s)" % brief(r))


if __name__ == "__main__":
    rt.main()
