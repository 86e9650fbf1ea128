"""A small browser for tests: follows redirects across the webapp and the providers.

Requests to the webapp's host go through the Flask test client; everything else goes
over real HTTP with ``requests``. Each host keeps its own cookies, as in a real browser.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests

WEBAPP_ORIGIN = "http://localhost"


@dataclass
class Form:
    action: str
    method: str
    fields: dict = field(default_factory=dict)
    buttons: list = field(default_factory=list)  # (name, value, label)
    text: str = ""


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._button: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._current = Form(action=a.get("action") or "", method=(a.get("method") or "get").lower())
            self.forms.append(self._current)
        elif self._current is None:
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind == "submit":
                self._current.buttons.append((a.get("name"), a.get("value") or "", a.get("value") or ""))
            elif kind in ("checkbox", "radio"):
                if "checked" in a and a.get("name"):
                    self._current.fields[a["name"]] = a.get("value", "on")
            elif a.get("name"):
                self._current.fields[a["name"]] = a.get("value") or ""
        elif tag == "button":
            self._button = [a.get("name"), a.get("value") or "", ""]
        elif tag in ("select", "textarea") and a.get("name"):
            self._current.fields.setdefault(a["name"], "")
            self._select = a["name"]
        elif tag == "option" and "selected" in a and getattr(self, "_select", None):
            self._current.fields[self._select] = a.get("value", "")

    def handle_data(self, data):
        if self._button is not None:
            self._button[2] += data
        if self._current is not None:
            self._current.text += data

    def handle_endtag(self, tag):
        if tag == "button" and self._button is not None and self._current is not None:
            self._current.buttons.append((self._button[0], self._button[1], self._button[2].strip()))
            self._button = None
        elif tag == "form":
            self._current = None


_FORM_RE = re.compile(r"<form\b.*?</form\s*>", re.S | re.I)
_FORM_START_RE = re.compile(r"<form\b", re.I)


@dataclass
class Page:
    url: str
    status: int
    text: str
    headers: dict
    history: list

    def forms(self) -> list[Form]:
        parser = _FormParser()
        # Only the forms are read: feeding just their markup skips the rest of the page (most
        # of it); a page whose forms are not all closed is read whole.
        parts = _FORM_RE.findall(self.text)
        if len(parts) != len(_FORM_START_RE.findall(self.text)):
            parts = [self.text]
        parser.feed("\n".join(parts))
        parser.close()
        return parser.forms

    def form_with(self, *, button: str | None = None, action_contains: str | None = None) -> Form:
        for form in self.forms():
            if action_contains and action_contains not in form.action:
                continue
            if button and not any(button in (label or "") or button == name or button == value
                                  for name, value, label in form.buttons):
                continue
            return form
        raise AssertionError(f"no form with button={button!r} action~{action_contains!r} on {self.url}\n"
                             f"{self.text[:2000]}")


class Browser:
    def __init__(self, client, max_hops: int = 20):
        self.client = client
        self.http = requests.Session()
        self.max_hops = max_hops
        self.hops: list[tuple[str, str, int]] = []

    def _is_webapp(self, url: str) -> bool:
        parts = urlsplit(url)
        return not parts.netloc or parts.netloc == urlsplit(WEBAPP_ORIGIN).netloc

    def _one(self, method: str, url: str, data=None):
        if self._is_webapp(url):
            parts = urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            resp = self.client.open(path, method=method, data=data, follow_redirects=False)
            full = urljoin(WEBAPP_ORIGIN, path)
            return full, resp.status_code, resp.get_data(as_text=True), dict(resp.headers)
        resp = self.http.request(method, url, data=data, allow_redirects=False, timeout=30)
        return url, resp.status_code, resp.text, dict(resp.headers)

    def open(self, url: str, method: str = "GET", data=None, follow: bool = True) -> Page:
        history = []
        for _ in range(self.max_hops):
            full, status, text, headers = self._one(method, url, data)
            self.hops.append((method, full, status))
            history.append((method, full, status))
            location = headers.get("Location")
            if follow and status in (301, 302, 303, 307, 308) and location:
                url = urljoin(full, location)
                if status in (301, 302, 303):
                    method, data = "GET", None
                continue
            return Page(full, status, text, headers, history)
        raise AssertionError(f"too many redirects: {history}")

    def submit(self, page: Page, form: Form, values: dict | None = None,
               button: str | None = None, follow: bool = True) -> Page:
        data = dict(form.fields)
        data.update(values or {})
        if button is not None:
            for name, value, label in form.buttons:
                if button in (label or "") or button == name or button == value:
                    if name:
                        data[name] = value
                    break
            else:
                raise AssertionError(f"no button {button!r} in {form.buttons}")
        target = urljoin(page.url, form.action or page.url)
        return self.open(target, method=form.method.upper(), data=data, follow=follow)


class HttpBrowser(Browser):
    """The same browser with every request over real HTTP, for servers in other processes.

    Relative URLs resolve against ``base_url`` (the webapp); cookies are kept per host.
    """

    def __init__(self, base_url: str, max_hops: int = 20, timeout: float = 30):
        super().__init__(client=None, max_hops=max_hops)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _one(self, method: str, url: str, data=None):
        url = urljoin(self.base_url + "/", url)
        resp = self.http.request(method, url, data=data, allow_redirects=False, timeout=self.timeout)
        return url, resp.status_code, resp.text, dict(resp.headers)

    def open(self, url: str, method: str = "GET", data=None, follow: bool = True) -> Page:
        return super().open(urljoin(self.base_url + "/", url), method, data, follow)
