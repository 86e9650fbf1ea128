"""LearnLink benchmark: one command, one table (figure, value, target, pass/fail).

    bash bench/run.sh [--quick] [--only flow,exchange,report,refresh,queries,latency] [--results]

Not part of the test suite. Every load loop is bounded in count and time; every server
listens on 127.0.0.1 and is stopped at the end. See bench/README.md for what each figure means.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SECTIONS = ("flow", "exchange", "report", "refresh", "queries", "latency")


@dataclass
class Row:
    figure: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: informational

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "FAIL", None: ""}[self.ok]


def print_table(rows: list[Row]) -> str:
    widths = [max(len(getattr(r, a) if a != "verdict" else r.verdict) for r in rows + [
        Row("Figure", "Value", "Target")]) for a in ("figure", "value", "target", "verdict")]
    widths[3] = max(widths[3], len("Result"))
    lines = []
    header = ("Figure", "Value", "Target", "Result")
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    lines.append("| " + " | ".join("-" * w for w in widths) + " |")
    for r in rows:
        cells = (r.figure, r.value, r.target, r.verdict)
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |")
    return "\n".join(lines)


def section_flow(quick: bool) -> list[Row]:
    from bench import linkflow

    count = 40 if quick else 150
    rows = []
    inproc = linkflow.in_process(count, seconds=60 if quick else 120)
    rows.append(Row("Link flow, in-process: flows/s", f"{inproc['flows_per_s']:.1f} "
                    f"({inproc['flows']} flows, {inproc['web_requests']:.0f} webapp + "
                    f"{inproc['idp_requests']:.0f} provider requests each)"))
    rows.append(Row("Link flow, in-process: cost / same number of /healthz requests",
                    f"{inproc['ratio']:.2f}x ({inproc['flow_ms']:.1f} ms vs {inproc['trivial_ms']:.1f} ms)",
                    "<= 3x", inproc["ratio"] <= 3))
    http = linkflow.over_http(count, seconds=60 if quick else 120, per_flow=inproc)
    rows.append(Row("Link flow, HTTP (gunicorn): flows/s", f"{http['flows_per_s']:.1f} ({http['flows']} flows)"))
    if "cpu_ratio" in http:
        rows.append(Row("Link flow, HTTP: servers' CPU / CPU of the same /healthz requests",
                        f"{http['cpu_ratio']:.2f}x ({(http['server_cpu_flow'] / http['flows'] - http['hash_ms'] / 1000) * 1000:.1f}"
                        f" ms vs {http['server_cpu_trivial'] / http['flows'] * 1000:.1f} ms per flow)"))
    rows.append(Row("Link flow, HTTP (gunicorn): cost / same number of /healthz requests",
                    f"{http['ratio']:.2f}x ({http['flow_ms']:.1f} ms vs {http['trivial_ms']:.1f} ms)",
                    "<= 3x", http["ratio"] <= 3))
    if "layout_floor" in http:
        page_ms, trivial_ms = http["layout_floor"]
        rows.append(Row("Floor, HTTP: signed-in page with the layout only (404) / /healthz",
                        f"{page_ms / trivial_ms:.2f}x ({page_ms:.2f} ms vs {trivial_ms:.2f} ms per request)"))
    bare = linkflow.bare_over_http(count, seconds=60 if quick else 120)
    bare_cpu = bare["server_cpu_flow"] / bare["server_cpu_trivial"] if bare["server_cpu_trivial"] else 0
    rows.append(Row("Floor, HTTP: the flow's 12 hops doing nothing else (bare_flow.py) / /healthz",
                    f"{bare['ratio']:.2f}x ({bare['flow_ms']:.1f} ms vs {bare['trivial_ms']:.1f} ms); "
                    f"servers' CPU {bare_cpu:.2f}x; the link flow's own work: "
                    f"{http['ratio'] - bare['ratio']:.2f}x"))
    for label, per_flow, median_ms in http.get("hops", []):
        times = f" x {per_flow:.0f} per flow" if round(per_flow) != 1 else ""
        within = " (waits for the token and userinfo answers)" if label.endswith("/callback") else ""
        rows.append(Row(f"Link flow, HTTP: {label} (server log)", f"median {median_ms:.1f} ms{times}{within}"))
    qa = linkflow.verify_ms(linkflow.QA_HASH, 50)
    prod = linkflow.verify_ms("scrypt", 5)
    rows.append(Row("Password verification per flow (left out of the ratios)",
                    f"{inproc['hash_calls']:.0f} x {qa:.2f} ms QA ({linkflow.QA_HASH}); "
                    f"production scrypt {prod:.0f} ms each"))
    return rows


def section_exchange(quick: bool) -> list[Row]:
    from bench import exchange
    return exchange.run(quick)


def section_report(quick: bool) -> list[Row]:
    from bench import report
    return report.run(quick)


def section_refresh(quick: bool) -> list[Row]:
    from bench import refresh
    return refresh.run(quick)


def section_queries(quick: bool) -> list[Row]:
    from bench import queries
    return queries.run(quick)


def section_latency(quick: bool) -> list[Row]:
    from bench import latency
    return latency.run(quick)


def machine() -> str:
    cores = os.cpu_count()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    return f"{cores} cores, {mem_gib:.0f} GiB memory, commit {commit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and shorter loads")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated: " + ",".join(SECTIONS))
    parser.add_argument("--results", action="store_true", help="also write bench/RESULTS.md")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the in-thread provider's access log
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    rows: list[Row] = []
    for name in chosen:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            rows.extend(globals()[f"section_{name}"](args.quick))
        except Exception as exc:  # one broken figure must not hide the others
            traceback.print_exc()
            rows.append(Row(f"{name}: could not run", f"{type(exc).__name__}: {str(exc)[:150]}", "", False))
        print(f"[bench] {name} done in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)

    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    # Other work on the machine slows every absolute figure: say how busy it was.
    load = f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    header = f"LearnLink benchmark {'(quick) ' if args.quick else ''}— {when} — {machine()} — " \
             f"{time.monotonic() - started:.0f} s — {load}"
    table = print_table(rows)
    print(header)
    print(table)
    if args.results:
        (REPO / "bench" / "RESULTS.md").write_text(
            "# Benchmark results\n\nLatest run of `bash bench/run.sh"
            f"{' --quick' if args.quick else ''}` (see README.md for what each figure means).\n\n"
            f"- Date: {when}\n- Machine: {machine()}\n- Duration: {time.monotonic() - started:.0f} s\n"
            f"- Other work on the machine: {load}\n\n"
            f"{table}\n")
    return 1 if any(r.ok is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
