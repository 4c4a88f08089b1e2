"""Run a registered experiment end to end, redraw a stored one, reproduce them all.

    res = execute("optimistic-matrix", preset="tiny", out="results/optimistic-matrix")
    res.ds, res.claims, res.figures          # Dataset, checked claims, figure paths

Layout of an experiment's output folder ``OUT``:

    OUT/store/          the resumable sweep store (rerunning resumes from it)
    OUT/results.nc      the Dataset (netCDF4, config + version in its attrs)
    OUT/claims.json     the checked claims (strict JSON)
    OUT/<figure>.png    figures drawn from the Dataset alone

``report(OUT)`` reloads ``results.nc``, re-checks the claims and redraws the figures without
computing anything.
"""

from __future__ import annotations

import base64
import html
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import xarray as xr

from phasekit.dynamics import sweep
from phasekit.experiments import base

__all__ = ["Result", "draw", "execute", "get", "load", "report", "reproduce", "save"]


class Result(NamedTuple):
    """An executed experiment.

    ds: the Dataset; claims: list of :class:`~phasekit.experiments.base.Claim`; figures: list of
    PNG paths (empty without ``out``); out: the output folder or None; wall_s: seconds for the
    whole call; complete: False when this process computed one shard of the grid only.
    """

    ds: xr.Dataset
    claims: list
    figures: list
    out: Path | None
    wall_s: float
    complete: bool


def get(name: str) -> base.Experiment:
    """The registered experiment ``name`` (ValueError listing the names otherwise); returns its
    :class:`~phasekit.experiments.base.Experiment`."""
    from phasekit.experiments import registry

    reg = registry()
    if name not in reg:
        raise ValueError(
            f"experiment: unknown {name!r}; `phasekit list` shows the {len(reg)} experiments"
        )
    return reg[name]


def save(ds: xr.Dataset, path) -> Path:
    """The one save function (:func:`phasekit.dynamics.sweep.save`: atomic, versioned): writes
    the Dataset ``ds`` as netCDF to ``path`` and returns the path written."""
    return sweep.save(ds, path)


def load(path) -> xr.Dataset:
    """Load a results file (or an output folder holding ``results.nc``) fully into memory.

    ``path``: a ``.nc`` file or an output folder of :func:`execute`; returns the Dataset.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "results.nc"
    if not path.exists():
        raise ValueError(f"out: no results file at {path}")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def execute(
    exp: str | base.Experiment,
    preset: str = "quick",
    *,
    cfg: base.Config | None = None,
    overrides: dict | None = None,
    out=None,
    shard=None,
    progress: bool = True,
    figures: bool = True,
) -> Result:
    """Run one experiment: sweep (resumable from ``out/store``), attrs, save, claims, figures.

    Args:
      exp: a registered name or :class:`~phasekit.experiments.base.Experiment`.
      preset: "tiny", "quick" or "paper"; ``overrides`` change single fields of it.
      cfg: a config to use instead of preset + overrides (``preset`` still labels the claims).
      out: output folder (None: in memory, nothing written, no resume).
      shard: (i, n) or "i/n": compute one part of the grid into ``out/store``; the claims and
        figures come from the run that finds the store complete.
      progress: show progress bars.
      figures: draw the figures into ``out`` (with ``out`` only).
    Returns:
      :class:`Result` (``ds`` stamped with the config and version; ``claims`` and ``figures``
      empty when this run computed one shard and the grid is not complete yet). With ``out``:
      ``out/results.nc``, ``out/claims.json`` and ``out/<figure>.png`` are written.
    """
    exp = get(exp) if isinstance(exp, str) else exp
    cfg = cfg if cfg is not None else exp.preset(preset, **(overrides or {}))
    out = Path(out) if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ds = exp.run(cfg, store=None if out is None else out / "store", shard=shard, progress=progress)
    complete = bool(ds.attrs.get("complete", 1))
    ds = base.stamp(ds, exp.name, cfg, preset)
    ds.attrs["complete"] = int(complete)
    ds.attrs["wall_time_s"] = round(time.perf_counter() - t0, 2)
    ds.attrs["platform"] = f"{jax.default_backend()} x{jax.device_count()} ({platform.machine()})"
    if not complete:
        return Result(ds, [], [], out, time.perf_counter() - t0, False)
    missing = base.undescribed(ds)
    if missing:
        raise RuntimeError(f"{exp.name}: variables without long_name/units: {missing}")
    claims = exp.claims(ds)
    paths = []
    if out is not None and jax.process_index() == 0:  # one writer in a jax.distributed run
        save(ds, out / "results.nc")
        (out / "claims.json").write_text(base.dumps([c.to_json() for c in claims]))
        if figures:
            paths = draw(exp, ds, out)
    return Result(ds, claims, paths, out, time.perf_counter() - t0, True)


def draw(exp: base.Experiment, ds: xr.Dataset, out: Path) -> list[Path]:
    """Draw the figures of ``exp`` from ``ds`` alone into ``out/<name>.png``; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for name, fig in exp.figures(ds).items():
        path = Path(out) / f"{name}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


def report(out, figures: bool = True) -> Result:
    """Reload ``out/results.nc``, re-check the claims and redraw the figures (no computation).

    Args:
      out: an output folder of :func:`execute`.
      figures: redraw the figures.
    Returns:
      :class:`Result` (``claims.json`` rewritten in ``out``).
    """
    out = Path(out)
    ds = load(out)
    if "experiment" not in ds.attrs:
        raise ValueError(f"out: {out} holds no phasekit experiment result (no 'experiment' attr)")
    exp = get(ds.attrs["experiment"])
    t0 = time.perf_counter()
    claims = exp.claims(ds)
    (out / "claims.json").write_text(base.dumps([c.to_json() for c in claims]))
    paths = draw(exp, ds, out) if figures else []
    return Result(ds, claims, paths, out, time.perf_counter() - t0, True)


# ----------------------------------------------------------------------------- reproduce


def reproduce(
    out, preset: str = "quick", only: Sequence[str] | None = None, progress: bool = True, log=print
) -> Path:
    """Run every registered experiment (or those whose area or name is in ``only``) at
    ``preset`` into ``out/<name>/`` and write ``out/REPRODUCTION.md`` and ``out/reproduction.html``
    (figures inline). Finished experiments resume from their stores.

    Args:
      out: the output folder.
      preset: the preset every experiment runs at.
      only: areas or names to run (None: all).
      progress: show progress bars;  log: where each line of the running log goes.
    Returns:
      The path of ``REPRODUCTION.md``.
    """
    from phasekit.experiments import registry

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    exps = [e for e in registry().values() if not only or e.area in only or e.name in only]
    if not exps:
        raise ValueError(f"only: no experiment in area or name {list(only or [])}")
    results, t0 = [], time.perf_counter()
    for i, exp in enumerate(exps):
        log(f"[{i + 1}/{len(exps)}] {exp.name} ({exp.figure}) ...")
        res = execute(exp, preset, out=out / exp.name, progress=progress)
        counts = _counts(res.claims)
        log(
            f"    {res.wall_s:.1f} s; claims: {counts[base.HELD]} held, {counts[base.NOT_HELD]} not held, "
            f"{counts[base.NOT_APPLICABLE]} n/a"
        )
        results.append((exp, res))
    wall = time.perf_counter() - t0
    md = _markdown(results, preset, wall)
    (out / "REPRODUCTION.md").write_text(md)
    (out / "reproduction.html").write_text(_html(results, preset, wall))
    return out / "REPRODUCTION.md"


def _counts(claims) -> dict:
    c = {base.HELD: 0, base.NOT_HELD: 0, base.NOT_APPLICABLE: 0}
    for cl in claims:
        c[cl.verdict] += 1
    return c


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown(results, preset, wall) -> str:
    import phasekit

    total = _counts([c for _, r in results for c in r.claims])
    lines = [
        f"# Reproduction report ({preset} preset)",
        "",
        f"Generated by `phasekit reproduce --preset {preset}` with phasekit {phasekit.__version__} "
        f"on {jax.default_backend()} ({jax.device_count()} device(s), {os.cpu_count()} cores). "
        f"Total wall time {wall / 60:.1f} min for {len(results)} experiments "
        f"(times below include compilation; an experiment found finished in its store is only reloaded).",
        "",
        f"Claims: **{total[base.HELD]} held, {total[base.NOT_HELD]} not held, "
        f"{total[base.NOT_APPLICABLE]} not applicable at this preset** "
        f"(a claim marked n/a needs a larger preset: it is checked there, never counted as held).",
        "",
        "| experiment | book | claim | book value | measured | verdict | likely cause if not held |",
        "|---|---|---|---|---|---|---|",
    ]
    for exp, res in results:
        for c in res.claims:
            lines.append(
                f"| `{exp.name}` | {_cell(c.figure)} | {_cell(c.statement)} | {_cell(_fmt(c.book))} | "
                f"{_cell(_fmt(c.measured))} | {c.verdict} | {_cell(c.cause)} |"
            )
    lines += ["", "| experiment | area | book | wall time (s) | title |", "|---|---|---|---|---|"]
    for exp, res in results:
        lines.append(
            f"| `{exp.name}` | {exp.area} | {exp.figure} | {res.wall_s:.1f} | {_cell(exp.title)} |"
        )
    return "\n".join(lines) + "\n"


def _html(results, preset, wall) -> str:
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>phasekit reproduction ({preset})</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}"
        ".held{background:#e6f5e6}.not{background:#fbe3e3}.na{background:#f3f3f3}"
        "img{max-width:100%}</style>",
        f"<h1>phasekit reproduction ({html.escape(preset)} preset)</h1>",
        f"<p>Total wall time {wall / 60:.1f} min.</p>",
    ]
    cls = {base.HELD: "held", base.NOT_HELD: "not", base.NOT_APPLICABLE: "na"}
    for exp, res in results:
        parts.append(
            f"<h2>{html.escape(exp.name)}: {html.escape(exp.title)} ({html.escape(exp.figure)})</h2>"
        )
        parts.append(
            "<table><tr><th>claim</th><th>book</th><th>book value</th><th>measured</th>"
            "<th>verdict</th><th>likely cause</th></tr>"
        )
        for c in res.claims:
            parts.append(
                f"<tr class='{cls[c.verdict]}'><td>{html.escape(c.statement)}</td>"
                f"<td>{html.escape(c.figure)}</td><td>{html.escape(_fmt(c.book))}</td>"
                f"<td>{html.escape(_fmt(c.measured))}</td><td>{c.verdict}</td>"
                f"<td>{html.escape(c.cause)}</td></tr>"
            )
        parts.append("</table>")
        for p in res.figures:
            data = base64.b64encode(Path(p).read_bytes()).decode()
            parts.append(
                f"<p><img alt='{html.escape(Path(p).stem)}' src='data:image/png;base64,{data}'></p>"
            )
    return "\n".join(parts)
