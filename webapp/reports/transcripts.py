"""Reading transcripts from a provider's API: a client_credentials token (scope transcript.read),
then ``POST /api/transcripts`` with a page of subjects per call."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import requests
from authlib.integrations.base_client import OAuthError
from flask import current_app
from flask_babel import gettext as _

from ..linking import oidc
from ..linking.backchannel import BackChannelLimit, BackChannelSession, refresh_limit_message
from ..linking.rules import provider_label
from ..models import ACHIEVEMENT_KINDS, ACHIEVEMENT_LEVELS, LinkedAccount

TRANSCRIPT_SCOPE = "transcript.read"


class RefreshError(Exception):
    """A provider's transcripts could not be read; nothing of that provider was written.
    ``message`` is for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One transcript item as a provider reported it, checked."""

    item_id: str
    kind: str
    code: str | None
    title: str
    level: str | None
    completed_on: date


def parse_transcript_item(raw) -> TranscriptEntry:
    """Check one item of the transcript API; ValueError when it is not what the API promises."""
    if not isinstance(raw, dict):
        raise ValueError("item is not an object")
    item_id, kind, title = raw.get("id"), raw.get("kind"), raw.get("title")
    code, level = raw.get("code") or None, raw.get("level") or None
    if not isinstance(item_id, str) or not item_id or len(item_id) > 100:
        raise ValueError("bad id")
    if kind not in ACHIEVEMENT_KINDS:
        raise ValueError("bad kind")
    if level is not None and level not in ACHIEVEMENT_LEVELS:
        raise ValueError("bad level")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("bad title")
    if code is not None and (not isinstance(code, str) or len(code) > 40):
        raise ValueError("bad code")
    completed_on = date.fromisoformat(str(raw.get("completed_at")))
    return TranscriptEntry(item_id, kind, code, title.strip()[:255], level, completed_on)


class TranscriptReader:
    """One provider's transcript API for the length of a refresh (``with`` block): the token is
    fetched once, then :meth:`read_page` answers a page of links per call."""

    def __init__(self, provider: str):
        self.provider = provider
        self.label = provider_label(provider)
        self.failed = _("Could not read the transcripts from %(provider)s. Nothing was changed; "
                        "try again in a moment.", provider=self.label)
        self.http: BackChannelSession | None = None

    def __enter__(self) -> "TranscriptReader":
        try:
            metadata = oidc.load_metadata(self.provider, oidc.Trace())
        except oidc.FlowError as exc:
            raise RefreshError(self.failed if exc.transient else exc.message)
        rp = oidc.client_for(self.provider)
        self.url = metadata["issuer"].rstrip("/") + "/api/transcripts"
        self.http = BackChannelSession(rp.client_id, rp.client_secret, scope=TRANSCRIPT_SCOPE,
                                       token_endpoint_auth_method=oidc.auth_method_for(
                                           self.provider, metadata),
                                       default_timeout=current_app.config["OIDC_HTTP_TIMEOUT"])
        try:
            self.http.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        except BackChannelLimit as exc:
            self.close()
            raise RefreshError(refresh_limit_message(self.label, exc))
        except OAuthError as exc:
            self.close()
            current_app.logger.warning("transcript token refused by %s: %s", self.provider, exc.error)
            raise RefreshError(_("%(provider)s refused Partner Center's transcript access "
                                 "(%(error)s). Nothing was changed; check the client "
                                 "configuration.", provider=self.label, error=exc.error))
        except (requests.RequestException, ValueError):
            self.close()
            raise RefreshError(self.failed)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None

    def read_page(self, links: list[LinkedAccount]) -> dict[int, list[TranscriptEntry]]:
        """The transcripts of ``links`` (one call): link id -> entries; an account the provider no
        longer knows has none. RefreshError when the answer is missing or not as promised."""
        subjects = list(dict.fromkeys(link.subject for link in links))
        try:
            response = self.http.post(self.url, json={"subs": subjects})
            response.raise_for_status()
            payload = response.json()
            by_subject: dict[str, list[TranscriptEntry]] = {s: [] for s in payload.get("unknown") or []}
            for transcript in payload["transcripts"]:
                by_subject[transcript["sub"]] = [parse_transcript_item(raw)
                                                 for raw in transcript.get("items") or []]
            if set(by_subject) != set(subjects):
                raise ValueError("transcripts of other accounts, or some missing")
        except BackChannelLimit as exc:
            raise RefreshError(refresh_limit_message(self.label, exc))
        except (requests.RequestException, ValueError, AttributeError, TypeError, KeyError):
            current_app.logger.warning("transcripts of %d links at %s unreadable", len(links), self.provider)
            raise RefreshError(self.failed)
        return {link.id: by_subject[link.subject] for link in links}
