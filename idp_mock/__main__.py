"""``python -m idp_mock --port 5001``: only the two mock providers, with their QA control API.

Prints one line when they answer (``LearnLink providers ready at http://…``) and serves
until interrupted. docs/testing.md, "The providers in your own tests".
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m idp_mock",
        description="Serve the mock Microsoft Learn and Partner University providers "
                    "(and their QA control API) on one port.")
    parser.add_argument("--port", type=int, default=5001, help="0 picks a free port (default 5001)")
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    parser.add_argument("--database", default=None,
                        help="SQLAlchemy URL, migrated and kept (default: a throwaway SQLite file)")
    parser.add_argument("--no-demo-accounts", action="store_true",
                        help="start without the demo accounts")
    args = parser.parse_args(argv)
    # The token comes from the environment, never from the command line (it would show in `ps`).
    token = os.environ.get("IDP_CONTROL_TOKEN")

    from .serve import DEV_CONTROL_TOKEN, Providers

    try:
        providers = Providers(args.port, args.host, database_url=args.database,
                              control_token=token or DEV_CONTROL_TOKEN,
                              demo_accounts=not args.no_demo_accounts)
    except OSError as exc:
        print(f"Cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    token_note = "IDP_CONTROL_TOKEN" if token else f"the dev token {DEV_CONTROL_TOKEN}"
    print(f"LearnLink providers ready at {providers.url} (issuers {providers.url}/learn and "
          f"{providers.url}/partner-university; QA API with {token_note})", flush=True)
    # SIGTERM ends like Ctrl-C: the throwaway database is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        providers.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        providers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
