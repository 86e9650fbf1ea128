"""The catalog of QA fault scenarios: each one's name, stage, parameters and the relying-party
check it is expected to trip. ``GET /qa/scenarios/catalog`` serves it; docs list it from here.

A scenario fires at one stage of the authorization-code flow:

- ``authorize``: instead of a code, the redirect back carries an OAuth error, or
  a code with a wrong ``state``;
- ``token``: the token endpoint fails (HTTP 500, slow answer, ``invalid_grant``,
  a code already redeemed);
- ``id_token``: the issued ID token is forged or carries a wrong claim;
- ``userinfo``: the userinfo answer names another subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from ..config import ISSUERS

SCOPES = ("next-flow", "until-cleared")
#: The longest a "slow token endpoint" may stall: past the webapp's 10 s deadline, well
#: within gunicorn's 60 s worker timeout.
MAX_SLOW_SECONDS = 30


@dataclass(frozen=True)
class Param:
    minimum: int
    maximum: int
    default: int
    description: str


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    stage: str
    description: str
    #: The relying-party check expected to fail (LearnLink webapp names).
    expected_check: str
    params: dict[str, Param] = field(default_factory=dict)
    issuers: tuple[str, ...] = tuple(ISSUERS)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "stage": self.stage,
            "description": self.description,
            "expected_check": self.expected_check,
            "issuers": list(self.issuers),
            "params": {
                key: {"minimum": p.minimum, "maximum": p.maximum, "default": p.default,
                      "description": p.description}
                for key, p in self.params.items()
            },
        }


CATALOG: dict[str, ScenarioSpec] = {
    spec.name: spec
    for spec in [
        ScenarioSpec("authorize_access_denied", "authorize",
                     "The user cancels: redirect back with error=access_denied.",
                     "access_denied"),
        ScenarioSpec("authorize_login_required", "authorize",
                     "Redirect back with error=login_required.", "authorize_login_required"),
        ScenarioSpec("authorize_consent_required", "authorize",
                     "Redirect back with error=consent_required.",
                     "authorize_consent_required"),
        ScenarioSpec("authorize_server_error", "authorize",
                     "Redirect back with error=server_error.", "authorize_server_error"),
        ScenarioSpec("authorize_temporarily_unavailable", "authorize",
                     "Redirect back with error=temporarily_unavailable.",
                     "authorize_temporarily_unavailable"),
        ScenarioSpec("authorize_wrong_state", "authorize",
                     "Redirect back with a valid code but a state the client never sent.",
                     "state_mismatch"),
        ScenarioSpec("token_http_500", "token",
                     "The token endpoint answers HTTP 500 (not JSON).", "token_http_error"),
        ScenarioSpec("token_slow", "token",
                     "The token endpoint waits N seconds before answering.", "token_timeout",
                     params={"seconds": Param(1, MAX_SLOW_SECONDS, 2,
                                              "Seconds to wait before answering")}),
        ScenarioSpec("token_invalid_grant", "token",
                     "The token endpoint refuses the code with invalid_grant.",
                     "token_invalid_grant"),
        ScenarioSpec("token_code_reused", "token",
                     "The code counts as already redeemed; the real single-use check refuses it.",
                     "token_invalid_grant"),
        ScenarioSpec("id_token_bad_signature", "id_token",
                     "Signed with a throwaway key under the published kid.",
                     "id_token_signature"),
        ScenarioSpec("id_token_alg_none", "id_token",
                     "Unsigned ID token (alg: none).", "id_token_alg"),
        ScenarioSpec("id_token_unknown_kid", "id_token",
                     "Signed with a throwaway key under a kid the JWKS does not publish.",
                     "id_token_kid"),
        ScenarioSpec("id_token_wrong_iss", "id_token",
                     "iss names another issuer.", "id_token_iss"),
        ScenarioSpec("id_token_wrong_aud", "id_token",
                     "aud names another client.", "id_token_aud"),
        ScenarioSpec("id_token_expired", "id_token",
                     "exp is one hour in the past.", "id_token_exp"),
        ScenarioSpec("id_token_iat_future", "id_token",
                     "iat is one hour in the future.", "id_token_iat"),
        ScenarioSpec("id_token_nonce_missing", "id_token",
                     "No nonce claim.", "id_token_nonce"),
        ScenarioSpec("id_token_nonce_wrong", "id_token",
                     "A nonce the client never sent.", "id_token_nonce"),
        ScenarioSpec("id_token_mcid_missing", "id_token",
                     "No mcid claim in the ID token nor in userinfo for that flow.",
                     "rule:no_mcid", issuers=("learn",)),
        ScenarioSpec("userinfo_sub_mismatch", "userinfo",
                     "userinfo answers with a sub other than the ID token's.",
                     "userinfo_sub_mismatch"),
    ]
}
