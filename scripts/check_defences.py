"""Remove each defence once and check that its test fails (SECURITY.md, "Removed once").

    .venv/bin/python scripts/check_defences.py [words of a defence name ...]

Works on a scratch copy of the committed tree (git archive HEAD, plus the compiled
catalogs), edits one defence out at a time, runs the tests that guard it, puts it back.
Prints CAUGHT when the tests fail without the defence, MISSED when they still pass.
"""
import pathlib
import shutil
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
PY = sys.executable
ROOT = pathlib.Path(tempfile.mkdtemp(prefix="learnlink-defences-"))
subprocess.run(f"git -C {REPO} archive HEAD | tar -x -C {ROOT}", shell=True, check=True)
for mo in REPO.glob("translations/*/LC_MESSAGES/messages.mo"):
    shutil.copy(mo, ROOT / mo.relative_to(REPO))
M = [
 ("kid absent with several keys refused", "webapp/oidc.py", "if not kid and len(keys.keys) != 1:", "if False:",
  "tests/test_rp_conformance.py::test_hostile_token_is_refused[kid-absent-several-keys]"),
 ("JWKS refetch rate limit", "webapp/oidc.py", "    if provider in last and at - last[provider] < interval:\n        return False", "    pass",
  "tests/test_rp_conformance.py::test_unknown_kid_refetch_is_rate_limited"),
 ("iss/sub/nonce/azp single strings", "webapp/oidc.py", 'for name in ("iss", "sub", "nonce", "azp"):', 'for name in ():',
  "tests/test_rp_conformance.py::test_hostile_token_is_refused[nonce-list-with-ours]"),
 ("only advertised and allowed algorithms", "webapp/oidc.py", "algorithms = [a for a in advertised if a in ALLOWED_ID_TOKEN_ALGS]", "algorithms = list(advertised)",
  "tests/test_rp_conformance.py::test_hostile_token_is_refused[hs256-advertised-by-provider]"),
 ("userinfo sub must match", "webapp/oidc.py", 'same = info.get("sub") == id_claims.get("sub")', "same = True",
  "tests/test_rp_conformance.py::test_hostile_token_is_refused[userinfo-sub-differs]"),
 ("discovery issuer must match", "webapp/oidc.py", 'ok = metadata.get("issuer") == issuer', "ok = True",
  "tests/test_rp_conformance.py::test_hostile_token_is_refused[discovery-issuer-differs]"),
 ("garbage token response handled", "webapp/oidc.py", "except (requests.RequestException, ValueError, TypeError, KeyError, AttributeError) as exc:\n        # Down|||    if not isinstance(token, dict):", "except requests.ConnectionError as exc:\n        # Down|||    if False:",
  "tests/test_faults_and_races.py::test_garbage_token_response"),
 ("HTTP timeout on provider calls", "webapp/oidc.py", '"default_timeout": app.config["OIDC_HTTP_TIMEOUT"],', '',
  "tests/test_faults_and_races.py::test_slow_token_endpoint_times_out_within_the_configured_timeout"),
 ("pending flows capped", "webapp/oidc.py", "    _trim_pending_flows(client)\n", "",
  "tests/test_faults_and_races.py::test_abandoned_flows_do_not_grow_the_session_cookie"),
 ("replayed code revokes tokens", "idp_mock/oauth2.py", "        if item.used_at is not None:\n            revoke_tokens_of_code(item)\n            return None", "        if item.used_at is not None:\n            return None",
  "tests/test_idp_security.py::test_replayed_code_fails_and_revokes_the_tokens_it_issued"),
 ("code claimed atomically", "idp_mock/oauth2.py", "        if claimed != 1:", "        if False:",
  "tests/test_idp_security.py::test_concurrent_exchanges_of_one_code_issue_one_token tests/test_idp_security.py::test_replayed_code_fails_and_revokes_the_tokens_it_issued"),
 ("provider CSRF on every POST", "idp_mock/__init__.py", "    csrf.init_app(app)\n", "",
  "tests/test_web_hardening.py::test_every_provider_post_route_refuses_a_request_without_csrf_token"),
 ("webapp CSRF on every POST", "webapp/extensions.py", "csrf = CSRFProtect()", "csrf = CSRFProtect()\ncsrf.exempt('webapp.auth.routes.logout')",
  "tests/test_web_hardening.py::test_every_webapp_post_route_refuses_a_request_without_csrf_token"),
 ("webapp session cleared at sign-in", "webapp/auth/routes.py", "        session.clear()  # a fresh session at sign-in: nothing from before survives\n", "",
  "tests/test_web_hardening.py::test_webapp_session_is_renewed_at_sign_in"),
 ("provider session cleared at sign-in", "idp_mock/routes.py", "    session.clear()\n    session.update(kept)\n", "",
  "tests/test_web_hardening.py::test_provider_session_is_renewed_at_sign_in"),
 ("sign-in throttling", "webapp/services.py", "        if failures >= limits[scope]:", "        if False:",
  "tests/test_web_hardening.py -k throttled"),
 ("dummy hash compare for unknown email", "webapp/services.py", "        check_password_hash(dummy, password or \"\")\n", "",
  "tests/test_web_hardening.py::test_unknown_email_and_wrong_password_cost_the_same"),
 ("security headers (webapp)", "webapp/__init__.py", "    add_security_headers(app)\n", "",
  "tests/test_web_hardening.py::test_webapp_security_headers"),
 ("log redaction", "log_redaction.py", "    current = logging.getLogRecordFactory()\n", "    return\n",
  "tests/test_web_hardening.py::test_no_secret_in_any_log_record_across_a_full_flow"),
 ("webapp return URL relative only", "webapp/safe_urls.py", "    if not target:\n        return fallback", "    if True:\n        return target or fallback",
  "tests/test_web_hardening.py -k login_next"),
 ("raw non-UTF-8 query bytes", "raw_query.py", "    app.wsgi_app = PercentEncodeRawQuery(app.wsgi_app)\n", "",
  "tests/test_web_hardening.py::test_raw_non_utf8_query_bytes_do_not_break_either_app"),
 ("NUL characters refused", "raw_query.py", "    app.before_request(refuse_nul_characters)\n", "",
  "tests/test_web_hardening.py::test_nul_characters_are_refused_with_400_on_both_apps"),
 ("audit log ORM guard", "webapp/models.py", '    raise AuditLogIsAppendOnly("The audit log is append-only.")', "    pass",
  "tests/test_audit_log.py::test_audit_log_cannot_be_changed_through_the_orm"),
 ("audit log triggers", "webapp/models.py", "    for statement in _AUDIT_TRIGGERS.get(connection.dialect.name, []):", "    for statement in []:",
  "tests/test_audit_log.py::test_audit_log_cannot_be_changed_in_the_database"),
 ("audit event in the same transaction", "webapp/services.py", "        record_audit(AUDIT_LINK_ADDED, organization_id=work_user.organization_id, actor=work_user,", "        db.session.commit()\n        record_audit(AUDIT_LINK_ADDED, organization_id=work_user.organization_id, actor=work_user,",
  "tests/test_audit_log.py::test_the_event_is_written_in_the_same_transaction_as_the_change"),
 ("compare-and-set association counter", "webapp/services.py", "            .where(LearningIdentity.id == bindparam(\"identity_id\"),\n                   LearningIdentity.association_count == bindparam(\"seen_count\"))", "            .where(LearningIdentity.id == bindparam(\"identity_id\"))",
  "tests/test_faults_and_races.py::test_fifty_concurrent_callbacks_for_one_mcid_link_it_once"),
]
M += [
 ("form-action lists the provider origins", "webapp/__init__.py", '''form_action = " ".join(["'self'", *provider_origins(config)])''', '''form_action = "'self'"''',
  "tests/test_csp_real_browser.py"),
 ("redirect_uri exact match", "idp_mock/models.py", "    def set_client_secret(self, client_secret: str) -> None:",
  "    def check_redirect_uri(self, redirect_uri):\n        return any(redirect_uri.lower().rstrip('/').startswith(u.lower()) for u in self.redirect_uris)\n\n    def set_client_secret(self, client_secret: str) -> None:",
  "tests/test_idp_security.py -k redirect_uri_must_match"),
 ("PKCE S256 only", "idp_mock/oauth2.py", 'if data.get("code_challenge_method") != "S256":|||    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]|||    CODE_CHALLENGE_METHODS = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}', 'if False:|||    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256", "plain"]|||    CODE_CHALLENGE_METHODS = CodeChallenge.CODE_CHALLENGE_METHODS',
  "tests/test_idp_security.py::test_plain_pkce_refused_even_when_verifier_equals_challenge"),
 ("provider return URL under the issuer", "idp_mock/routes.py", '    if not parts.path.startswith(f"/{g.issuer}/"):\n        return None\n    return target', "    return target",
  "tests/test_web_hardening.py -k provider_next"),
 ("provider Secure cookie flag", "idp_mock/config.py", '        "SESSION_COOKIE_SECURE":', '        "SESSION_COOKIE_SECURE_UNUSED":',
  "tests/test_web_hardening.py::test_secure_cookie_flag_comes_from_the_environment"),
]
M += [
 ("client secret fully hidden in traces", "webapp/oidc.py", "HIDDEN if k in HIDDEN_FIELDS else ", "",
  "tests/test_traces.py::test_client_secret_is_not_shown_even_in_part"),
 ("route ids bounded to the database range", "webapp/__init__.py", '    app.url_map.converters["int"] = RowIdConverter\n', "",
  "tests/test_route_ids.py"),
 ("token access_token/token_type must be strings", "webapp/oidc.py", 'for name in ("access_token", "token_type"):', "for name in ():",
  "tests/test_rp_conformance.py::test_hostile_token_is_refused[access-token-object] tests/test_rp_conformance.py::test_hostile_token_is_refused[token-type-number]"),
 ("at_hash a single string", "webapp/oidc.py", 'for name in ("iss", "sub", "nonce", "azp", "at_hash"):', 'for name in ("iss", "sub", "nonce", "azp"):',
  "tests/test_rp_conformance.py::test_hostile_token_is_refused[at-hash-object]"),
 ("sign-out ends the session server-side", "webapp/auth/routes.py", "        services.end_sessions(current_user)", "        pass",
  "tests/test_sign_out_revokes.py::test_a_copied_cookie_no_longer_works_after_sign_out"),
 ("user loader checks the session version", "webapp/extensions.py", "    if version != str(user.session_version or 0):", "    if False:",
  "tests/test_sign_out_revokes.py"),
 ("?lang= on GET never saves the preference", "webapp/i18n.py", "    if lang is not None:\n        session[SESSION_KEY] = lang\n", "    if lang is not None:\n        choose_language(lang)\n",
  "tests/test_translations.py::test_a_lang_link_does_not_change_the_saved_preference"),
 ("pending attempts past the state lifetime shown abandoned", "webapp/services.py", "    if attempt.outcome == OUTCOME_PENDING and attempt.started_at < abandoned_cutoff():", "    if False:",
  "tests/test_abandoned_attempts.py::test_an_attempt_left_at_the_provider_shows_abandoned_after_the_state_lifetime"),
 ("abandoned attempts closed at the start of a flow", "webapp/services.py", "    close_abandoned_attempts()\n    return purge_old_traces()", "    return purge_old_traces()",
  "tests/test_abandoned_attempts.py::test_the_start_of_a_flow_and_the_cli_close_them_in_the_database"),
 ("state lifetime enforced on the callback", "webapp/oidc.py", '    if not isinstance(entry, dict) or (entry.get("exp") or 0) < time.time():', "    if False:",
  "tests/test_abandoned_attempts.py::test_an_answer_after_the_state_lifetime_links_nothing"),
 ("back-channel size cap", "webapp/backchannel.py", "            if size > self.max_bytes:\n                raise ResponseTooLarge(self.max_bytes)\n", "",
  "tests/test_backchannel_limits.py::test_a_huge_answer_is_cut_off_at_the_size_cap[token_endpoint-huge]"),
 ("back-channel deadline watchdog", "webapp/backchannel.py", "        self._timer.start()\n", "",
  "tests/test_backchannel_limits.py::test_a_drip_fed_answer_ends_the_flow_at_the_deadline[token_endpoint-drip-head]"),
 ("back-channel session used by Authlib's client", "webapp/oidc.py", "    client_cls = BackChannelSession", "    from authlib.integrations.requests_client import OAuth2Session as client_cls",
  "tests/test_backchannel_limits.py::test_a_huge_answer_is_cut_off_at_the_size_cap[jwks_uri-huge]"),
 ("route fuzz: bounded ids on every route", "webapp/__init__.py", '    app.url_map.converters["int"] = RowIdConverter\n', "",
  "tests/test_fuzz_webapp_routes.py"),
]
only = sys.argv[1:]
for name, path, old, new, tests in M:
    if only and not any(o in name for o in only):
        continue
    paths = path.split("|||")
    olds, news = old.split("|||"), new.split("|||")
    originals = {p: (ROOT / p).read_text() for p in paths}
    missing = False
    for i, o in enumerate(olds):
        p = paths[min(i, len(paths) - 1)] if len(paths) > 1 else paths[0]
        text = (ROOT / p).read_text()
        if o not in text:
            missing = True; break
        (ROOT / p).write_text(text.replace(o, news[i], 1))
    if len(paths) > 1 and len(olds) == 1:  # same edit in every file
        for p in paths[1:]:
            text = (ROOT / p).read_text()
            missing = missing or olds[0] not in text
            (ROOT / p).write_text(text.replace(olds[0], news[0], 1))
    if missing:
        for p, t in originals.items(): (ROOT / p).write_text(t)
        print(f"NOT APPLIED  {name}: pattern missing"); continue
    try:
        r = subprocess.run(f"{PY} -m pytest -q -p no:cacheprovider -x {tests}", shell=True, cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
        last = [l for l in r.stdout.splitlines() if " passed" in l or " failed" in l or "error" in l.lower()][-1:]
        # pytest exits 1 when tests failed; anything else (2, 4...) means the edit broke the run.
        verdict = {0: "MISSED", 1: "CAUGHT"}.get(r.returncode, "BROKEN")
        print(f"{verdict}  {name}: {last[0] if last else r.stdout[-200:]}", flush=True)
    finally:
        for p, t in originals.items():
            (ROOT / p).write_text(t)

shutil.rmtree(ROOT, ignore_errors=True)
