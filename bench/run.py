"""Run every benchmark figure and print each with its baseline, ratio, target and verdict.

    python bench/run.py                 # the issue's sizes (≈ 10–15 min on 2 cores, data cached)
    python bench/run.py --quick         # tiny sizes, seconds (tests/test_bench_smoke.py)
    python bench/run.py --only dashboard --only mail_log
    python bench/run.py --fresh         # rebuild the cached datasets

Results also go to bench/out/results.json (and the markdown table of BENCHMARKS.md is printed at
the end). Figures: dispatch_postmark, dispatch_smtp, enqueue, dashboard, mail_log, bulk_retry,
export, console_start, worker_memory. See BENCHMARKS.md for what each measures and why.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DEFAULT_DATA_DIR,
    DEFAULT_PG_URL,
    FULL,
    OUT_DIR,
    QUICK,
    Result,
    Sizes,
    isolated_home,
    machine_info,
    markdown_table,
    print_machine,
    print_result,
    save_results,
)

FIGURES = (
    "dispatch_postmark",
    "dispatch_smtp",
    "enqueue",
    "dashboard",
    "mail_log",
    "bulk_retry",
    "export",
    "console_start",
    "worker_memory",
)
DATASET_FIGURES = {"dashboard", "mail_log", "bulk_retry", "export", "console_start"}


def pg_admin_url(arg: str | None) -> str | None:
    if arg == "none":
        return None
    return arg or os.environ.get("MAILCONSOLE_TEST_PG_URL") or DEFAULT_PG_URL


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--only", action="append", choices=FIGURES, help="run only these figures")
    parser.add_argument("--runs", type=int, help="whole runs per long figure (default 3)")
    parser.add_argument("--fresh", action="store_true", help="rebuild cached datasets")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--out", type=Path, default=None, help="results JSON")
    parser.add_argument(
        "--pg-url", default=None, help="admin URL of PostgreSQL ('none' to skip PostgreSQL)"
    )
    args = parser.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)

    sizes: Sizes = QUICK if args.quick else FULL
    if args.runs:
        from dataclasses import replace

        sizes = replace(sizes, runs=args.runs)
    selected = list(args.only or FIGURES)
    data_dir: Path = args.data_dir.resolve()
    work = data_dir / ("work-quick" if sizes.quick else "work")
    work.mkdir(parents=True, exist_ok=True)
    pg_url = pg_admin_url(args.pg_url)

    started = time.perf_counter()
    info = machine_info(pg_url)
    info["loadavg_start"] = os.getloadavg()
    print_machine(info)
    print(
        f"sizes: {'quick' if sizes.quick else 'full'}; figures: {', '.join(selected)}", flush=True
    )

    results: list[Result] = []
    failures: list[str] = []
    with isolated_home(work / "home") as xdg:
        dataset: Path | None = None
        if DATASET_FIGURES & set(selected):
            from bench import data
            from bench.fig_bulk_retry import dirty_marker

            dataset, _ = data.dataset_db(data_dir, sizes, fresh=args.fresh)
            if dirty_marker(dataset).exists():
                dataset, _ = data.dataset_db(data_dir, sizes, fresh=True)

        def sqlite_dataset_url() -> str:
            assert dataset is not None
            return f"sqlite:///{dataset}"

        def dashboard() -> list[Result]:
            from bench import data, fig_dashboard

            pg = None
            if pg_url:
                assert dataset is not None
                pg = data.dataset_pg(dataset, pg_url, fresh=args.fresh)
            try:
                return fig_dashboard.run(sizes, sqlite_dataset_url(), pg)
            finally:
                if pg_url and sizes.quick:
                    assert dataset is not None
                    data.drop_pg(dataset, pg_url)

        def figure(name: str) -> Callable[[], list[Result]]:
            if name == "dispatch_postmark":
                from bench import fig_dispatch_postmark as m

                return lambda: m.run(sizes, work / "postmark")
            if name == "dispatch_smtp":
                from bench import fig_dispatch_smtp as m

                return lambda: m.run(sizes, work / "smtp")
            if name == "enqueue":
                from bench import fig_enqueue as m

                return lambda: m.run(sizes, work / "enqueue", data_dir)
            if name == "dashboard":
                return dashboard
            if name == "mail_log":
                from bench import fig_mail_log as m

                return lambda: m.run(sizes, sqlite_dataset_url())
            if name == "bulk_retry":
                from bench import fig_bulk_retry as m

                assert dataset is not None
                return lambda: m.run(sizes, dataset)
            if name == "export":
                from bench import fig_export as m

                assert dataset is not None
                return lambda: m.run(sizes, dataset, work / "export")
            if name == "console_start":
                from bench import fig_console_start as m

                assert dataset is not None
                return lambda: m.run(sizes, dataset, work / "console", xdg)
            from bench import fig_worker_memory as m

            return lambda: m.run(sizes, data_dir, work / "worker", xdg)

        for name in selected:
            print(f"\n[{name}]", flush=True)
            t0 = time.perf_counter()
            try:
                got = figure(name)()
            except Exception:
                failures.append(name)
                traceback.print_exc()
                print(f"  FAILED  {name}", flush=True)
                continue
            for r in got:
                print_result(r)
                if r.limit:
                    print(f"        limit: {r.limit}", flush=True)
            results.extend(got)
            print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)

    info["loadavg_end"] = os.getloadavg()
    info["total_s"] = round(time.perf_counter() - started, 1)
    name = "results-quick.json" if sizes.quick else "results.json"
    if args.only:  # a partial run never replaces the whole run's results
        name = name.replace(".json", "-only.json")
    out = args.out or OUT_DIR / name
    save_results(out, info, results, argv)
    print("\n" + markdown_table(results))
    print(f"\nwhole run: {info['total_s']:.0f} s; results in {out}")
    if failures:
        print(f"FAILED figures: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
