"""Return URLs: only paths on this site, never another host."""
from urllib.parse import unquote, urlsplit


def safe_next_url(target: str | None, fallback: str) -> str:
    if not target:
        return fallback
    # Decode repeatedly so encoded tricks (%2F%2Fevil, %5C) are judged in their final form.
    decoded = target
    for _ in range(3):
        decoded = unquote(decoded)
    if any(ch in decoded for ch in ("\\", "\r", "\n", "\t")) or not decoded.startswith("/") \
            or decoded.startswith("//"):
        return fallback
    parts = urlsplit(decoded)
    if parts.scheme or parts.netloc:
        return fallback
    return target
