"""The ``phasekit`` command: list, run, report and reproduce the book's experiments.

    phasekit list                                   # every experiment, its area and book figure
    phasekit list phase-diagram                     # its fields (defaults, allowed range) and presets
    phasekit run phase-diagram --preset quick       # compute (resumes from OUT/store), claims, figures
    phasekit run optimistic-matrix --preset tiny --set seeds=4 --out results/om
    phasekit run phase-diagram-digits --n 200       # --FIELD VALUE is the same as --set FIELD=VALUE
    phasekit report results/om                      # redraw figures, re-check claims (no compute)
    phasekit reproduce --preset quick --only rank   # every experiment -> REPRODUCTION.md + HTML
    phasekit store check results/om/store/...       # duplicates, disagreements, temp files, bad chunks

Bad input (an unknown experiment, preset or field, a value out of range, bad data) exits with
status 2 and one line naming the field (``PHASEKIT_DEBUG=1`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

import numpy as np

from phasekit.experiments import base

__all__ = ["format_claims", "main"]

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # --n is a config field, not --no-progress
        super().__init__(*args, **kwargs)

    def error(self, message):  # one line, no usage dump
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="phasekit",
        description="Experiments of the book, as library functions.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ls = sub.add_parser("list", help="list experiments, or show one experiment's fields")
    ls.add_argument("name", nargs="?")
    ls.add_argument("--markdown", action="store_true", help="the list as a Markdown table")
    run = sub.add_parser("run", help="run one experiment")
    run.add_argument("name")
    run.add_argument("--preset", default="quick", help="tiny, quick (default) or paper")
    run.add_argument("--out", default=None, help="output folder (default results/NAME/PRESET)")
    run.add_argument("--shard", default=None, help="i/n: compute one of n parts of the grid")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config field (repeatable); lists are comma-separated",
    )
    run.add_argument("--no-progress", action="store_true")
    run.add_argument("--no-figures", action="store_true")
    run.add_argument(
        "--distributed",
        action="store_true",
        help="join a jax.distributed run (cluster scheduler detected, or the flags below)",
    )
    run.add_argument(
        "--coordinator", default=None, help="host:port of process 0 (with --distributed)"
    )
    run.add_argument(
        "--num-processes", default=None, help="number of processes (with --distributed)"
    )
    run.add_argument("--process-id", default=None, help="this process's id (with --distributed)")
    rep = sub.add_parser("report", help="re-check claims and redraw figures of a stored result")
    rep.add_argument("out")
    rep.add_argument("--no-figures", action="store_true")
    store = sub.add_parser("store", help="inspect a sweep store without changing it")
    store.add_argument("action", choices=["check"])
    store.add_argument("path")
    repro = sub.add_parser("reproduce", help="run every experiment and write REPRODUCTION.md")
    repro.add_argument("--preset", default="quick")
    repro.add_argument("--only", nargs="+", default=None, metavar="AREA_OR_NAME")
    repro.add_argument("--out", default=None, help="default results/reproduce-PRESET")
    repro.add_argument("--no-progress", action="store_true")
    return ap


def _overrides(exp: base.Experiment, sets: list[str], extra: list[str]) -> dict:
    """``--set a=1`` and ``--a 1`` / ``--a=1`` -> typed field values of ``exp.config``."""
    pairs = {}
    for item in sets:
        if "=" not in item:
            raise ValueError(f"set: expected FIELD=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        pairs[k.strip().replace("-", "_")] = v
    i = 0
    while i < len(extra):
        tok = extra[i]
        if not tok.startswith("--") or tok == "--":
            raise ValueError(f"arguments: unexpected {tok!r}")
        if "=" in tok:
            k, v = tok[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(extra):
                raise ValueError(f"{tok[2:].replace('-', '_')}: needs a value")
            k, v = tok[2:], extra[i + 1]
            i += 2
        pairs[k.replace("-", "_")] = v
    return exp.config.parse_overrides(pairs)


def format_claims(claims) -> str:
    """The claims as the CLI prints them: per claim a ``[held | NOT HELD | n/a] figure:
    statement`` line and a ``measured ...; book ... (cause)`` line (lists cut at 12 entries,
    floats to 4 significant digits).

    Args:
        claims: an iterable of :class:`~phasekit.experiments.base.Claim`.

    Returns:
        The lines joined by newlines.
    """
    mark = {base.HELD: "held    ", base.NOT_HELD: "NOT HELD", base.NOT_APPLICABLE: "n/a     "}
    lines = []
    for c in claims:
        book = "" if c.book is None else f"; book {_short(c.book)}"
        lines.append(f"  [{mark[c.verdict]}] {c.figure}: {c.statement}")
        lines.append(
            f"             measured {_short(c.measured)}{book}"
            + (f"  ({c.cause})" if c.cause else "")
        )
    return "\n".join(lines)


def _short(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_short(x) for x in v[:12]) + (", ..." if len(v) > 12 else "") + "]"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _list(name: str | None, markdown: bool = False) -> int:
    from phasekit.experiments import get, registry

    if name is None and markdown:
        print("| area | experiment | book | what it computes |\n|---|---|---|---|")
        for n, exp in registry().items():
            print(f"| {exp.area} | `{n}` | {exp.figure} | {exp.title} |")
        return 0
    if name is None:
        reg = registry()
        width = max(len(n) for n in reg)
        area = None
        for n, exp in reg.items():
            if exp.area != area:
                area = exp.area
                print(f"\n{area}")
            print(f"  {n:<{width}}  {exp.figure:<14}  {exp.title}")
        print(f"\n{len(reg)} experiments; `phasekit list NAME` shows one's fields and presets")
        return 0
    exp = get(name)
    print(f"{exp.name} ({exp.area}, {exp.figure}): {exp.title}\n")
    import dataclasses

    for f in dataclasses.fields(exp.config):
        rng = base._range_text(f.metadata) or (
            "one of " + ", ".join(f.metadata["choices"]) if f.metadata.get("choices") else ""
        )
        doc = f.metadata.get("doc", "")
        print(f"  {f.name:<16} = {f.default!r:<24} {rng}" + (f"  -- {doc}" if doc else ""))
    print("\npresets:")
    for p, over in exp.presets.items():
        text = ", ".join(f"{k}={v}" for k, v in over.items()) or "(defaults)"
        print(textwrap.fill(f"  {p}: {text}", width=100, subsequent_indent="      "))
    return 0


def _run(args, extra) -> int:
    from phasekit.experiments import execute, get

    exp = get(args.name)
    overrides = _overrides(exp, args.set, extra)
    cfg = exp.preset(args.preset, **overrides)
    if args.distributed:
        from phasekit.dynamics import sweep

        index, count = sweep.initialize_distributed(
            args.coordinator, args.num_processes, args.process_id
        )
        print(f"process {index} of {count} (jax.distributed)")
    elif args.coordinator or args.num_processes or args.process_id:
        raise ValueError(
            "distributed: --coordinator/--num-processes/--process-id need --distributed"
        )
    out = Path(args.out or f"results/{exp.name}/{args.preset}")
    print(f"{exp.name} [{args.preset}] ({exp.figure}): {exp.title}\n  output: {out}")
    res = execute(
        exp,
        args.preset,
        cfg=cfg,
        out=out,
        shard=args.shard,
        progress=not args.no_progress,
        figures=not args.no_figures,
    )
    if not res.complete:
        print(
            f"shard {args.shard} done in {res.wall_s:.1f} s; rerun without --shard once every "
            f"shard has finished to assemble the result."
        )
        return 0
    print(f"\n{res.wall_s:.1f} s. Claims:\n{format_claims(res.claims)}")
    print(f"\nresults: {out / 'results.nc'}")
    for p in res.figures:
        print(f"figure:  {p}")
    return 0


def _report(args) -> int:
    from phasekit.dynamics import sweep
    from phasekit.experiments import report

    out = Path(args.out)
    if not (out / "results.nc").exists() and (out / "store").is_dir():
        # a run still in progress (or killed): read its stores, compute nothing
        print(f"{out}: no results.nc yet; its sweep stores, read-only:")
        for meta in sorted((out / "store").rglob("meta.json")):
            ds = sweep.open(meta.parent)
            print(
                f"  {meta.parent.relative_to(out)}: {ds.attrs['fraction_complete']:.0%} of "
                f"{int(np.prod([ds.sizes[d] for d in json.loads(meta.read_text())['axes']]))} points finished"
            )
        print(
            "rerun the `phasekit run` command to finish it; then `phasekit report` shows the claims"
        )
        return 0
    res = report(args.out, figures=not args.no_figures)
    ds = res.ds
    print(
        f"{ds.attrs['experiment']} [{ds.attrs.get('preset')}] from {Path(args.out) / 'results.nc'} "
        f"(phasekit {ds.attrs.get('phasekit_version')}, computed in {ds.attrs.get('wall_time_s', '?')} s)"
    )
    print(format_claims(res.claims))
    for p in res.figures:
        print(f"figure:  {p}")
    return 0


def _store(args) -> int:
    from phasekit.dynamics import store

    rep = store.check(args.path)
    if not rep["meta"]:
        raise ValueError(f"store: no readable meta.json in {args.path}")
    print(f"{rep['store']}: {rep['points']} points in {rep['chunks']} chunks")
    print(
        f"  duplicated points: {rep['duplicates']}, of which disagreeing: {len(rep['disagreeing'])}"
        + (f" {rep['disagreeing'][:5]}" if rep["disagreeing"] else "")
    )
    print(
        f"  unreadable chunks: {len(rep['unreadable'])} {rep['unreadable'][:5] if rep['unreadable'] else ''}"
    )
    print(f"  chunks of another configuration: {rep['foreign']}")
    print(
        f"  orphaned temporary files: {len(rep['temporary_files'])}; leases: {len(rep['leases'])}"
    )
    for lay in rep["layouts"]:
        print("  layout: " + ", ".join(f"{k}={v}" for k, v in lay.items()))
    bad = rep["unreadable"] or rep["disagreeing"]
    return 1 if bad else 0


def _reproduce(args) -> int:
    from phasekit.experiments import reproduce

    out = Path(args.out or f"results/reproduce-{args.preset}")
    if args.preset not in base.PRESETS:
        raise ValueError(f"preset: one of {', '.join(base.PRESETS)}; got {args.preset!r}")
    path = reproduce(out, args.preset, args.only, progress=not args.no_progress)
    print(f"report: {path}\n        {path.with_name('reproduction.html')}")
    return 0


def main(argv=None) -> int:
    """The ``phasekit`` command (``list``, ``run``, ``report``, ``store``, ``reproduce``).

    Args:
        argv: the arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, :data:`EXIT_USAGE` on a usage or config error (the
        message on stderr; ``PHASEKIT_DEBUG=1`` re-raises instead), 130 on an interrupt (rerun
        the same command to resume from the store).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args, extra = _parser().parse_known_args(argv)
        if extra and args.command != "run":
            raise _UsageError(f"unrecognized arguments: {' '.join(extra)}")
        if args.command == "list":
            return _list(args.name, args.markdown)
        if args.command == "run":
            return _run(args, extra)
        if args.command == "report":
            return _report(args)
        if args.command == "store":
            return _store(args)
        return _reproduce(args)
    except (_UsageError, ValueError) as e:
        if os.environ.get("PHASEKIT_DEBUG"):
            raise
        print(f"phasekit: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "phasekit: interrupted; rerun the same command to resume from the store",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
