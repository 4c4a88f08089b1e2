"""The experiment layer's building blocks: validated configs, checked claims, the registry.

An experiment of the book is defined once, in the module of its area, as

    @dataclass(frozen=True)
    class MatrixConfig(Config):
        d: int = param(4, ge=2, doc="matrix size")
        seeds: int = param(8, ge=1)

    def run(cfg: MatrixConfig, store=None, shard=None, progress=True) -> xr.Dataset:
        ...   # through phasekit.dynamics.sweep.run(..., store=store, shard=shard)

    def claims(ds) -> list[Claim]:
        return [claim(ds, name=..., statement=..., figure="Fig 10.2", book=7,
                      measured=..., held=..., if_not_held="...")]

    register(Experiment("optimistic-matrix", area="rank", figure="Fig 10.2", title=...,
                        config=MatrixConfig, presets={"tiny": {...}, "quick": {...}, "paper": {...}},
                        run=run, claims=claims, figures=phasekit.viz.rank.matrix_figures))

:func:`phasekit.experiments.execute` runs one (store, attrs, claims, figures, results file).

Presets: ``tiny`` (seconds; the default test suite runs every experiment at it), ``quick``
(about a minute on 2 CPU cores; ``phasekit reproduce``), ``paper`` (the book's scale, for a
GPU). A claim states the lowest preset at which it is expected to hold (``min_preset``); at a
smaller preset a claim that does not hold is reported "n/a at this preset", never "held".
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import xarray as xr

__all__ = [
    "Claim",
    "Config",
    "Experiment",
    "HELD",
    "NOT_APPLICABLE",
    "NOT_HELD",
    "PRESETS",
    "REGISTRY",
    "claim",
    "describe",
    "dumps",
    "param",
    "preset_rank",
    "register",
    "stamp",
    "undescribed",
]

PRESETS = ("tiny", "quick", "paper")
HELD, NOT_HELD, NOT_APPLICABLE = "held", "not held", "n/a at this preset"


# ----------------------------------------------------------------------------- configs


def param(default, *, ge=None, gt=None, le=None, lt=None, choices=None, doc: str = ""):
    """A config field with its allowed range: ``ge``/``gt``/``le``/``lt`` bounds (applied to
    every element of a tuple field), ``choices`` for strings; ``doc`` is shown by
    ``phasekit list --fields``. ``default`` is the field's default value; returns a
    ``dataclasses.field`` whose metadata the :class:`Config`'s ``__post_init__`` checks (a
    ValueError naming the field)."""
    if isinstance(default, list):
        default = tuple(default)
    return dataclasses.field(
        default=default,
        metadata=dict(
            ge=ge, gt=gt, le=le, lt=lt, choices=tuple(choices) if choices else None, doc=doc
        ),
    )


def _range_text(meta) -> str:
    parts = [
        f"{op} {meta[k]}"
        for k, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
        if meta.get(k) is not None
    ]
    return " and ".join(parts)


def _in_range(v, meta) -> bool:
    return all(
        meta.get(k) is None or cmp(v, meta[k])
        for k, cmp in (
            ("ge", lambda a, b: a >= b),
            ("gt", lambda a, b: a > b),
            ("le", lambda a, b: a <= b),
            ("lt", lambda a, b: a < b),
        )
    )


def _split_optional(tp):
    """(inner type, allows None) of ``X | None`` / ``Optional[X]``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
        return tp, False
    return tp, False


def _coerce_scalar(name: str, tp, v, meta):
    """Validate one scalar value of type ``tp`` (int, float, bool, str) against ``meta``."""
    rng = _range_text(meta)
    if tp is bool:
        if not isinstance(v, (bool, np.bool_)):
            raise ValueError(f"{name}: must be true or false, got {v!r}")
        return bool(v)
    if tp is int:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                v = int(v)
            else:
                raise ValueError(f"{name}: must be an integer{' ' + rng if rng else ''}, got {v!r}")
        v = int(v)
    elif tp is float:
        if isinstance(v, (bool, np.bool_)) or not isinstance(
            v, (int, float, np.integer, np.floating)
        ):
            raise ValueError(f"{name}: must be a number{' ' + rng if rng else ''}, got {v!r}")
        v = float(v)
        if not math.isfinite(v):
            raise ValueError(f"{name}: must be finite, got {v!r}")
    elif tp is str:
        if not isinstance(v, str):
            raise ValueError(f"{name}: must be a string, got {v!r}")
        if meta.get("choices") and v not in meta["choices"]:
            raise ValueError(f"{name}: must be one of {', '.join(meta['choices'])}; got {v!r}")
        return v
    else:
        raise TypeError(f"{name}: unsupported config type {tp!r}")
    if not _in_range(v, meta):
        raise ValueError(f"{name}: must be {rng}, got {v!r}")
    return v


def _coerce(name: str, tp, v, meta):
    tp, optional = _split_optional(tp)
    if v is None:
        if optional:
            return None
        raise ValueError(f"{name}: a value is required")
    if typing.get_origin(tp) is tuple:
        (elem, *rest) = typing.get_args(tp)
        if isinstance(v, (str, bytes)) or not isinstance(v, (tuple, list, np.ndarray)):
            raise ValueError(f"{name}: must be a list of values, got {v!r}")
        vals = tuple(_coerce(f"{name}[{i}]", elem, x, meta) for i, x in enumerate(v))
        if not vals:
            raise ValueError(f"{name}: needs at least one value")
        return vals
    return _coerce_scalar(name, tp, v, meta)


@dataclass(frozen=True)
class Config:
    """Base of every experiment config: a frozen dataclass whose fields are validated on
    construction against their type annotation and the range given by :func:`param`;
    a bad value raises ``ValueError("field: must be ..., got ...")``.

    Supported field types: int, float (finite), bool, str (with ``choices``), ``tuple[T, ...]``
    of those, and ``T | None``. Subclasses add cross-field checks in ``validate(self)``.
    """

    EXECUTION_FIELDS: ClassVar[
        tuple[str, ...]
    ] = ()  # how runs are scheduled, not what they compute

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            object.__setattr__(
                self, f.name, _coerce(f.name, hints[f.name], getattr(self, f.name), f.metadata)
            )
        self.validate()

    def validate(self):
        """Cross-field checks (override); raise ValueError naming the field."""

    def to_dict(self, execution: bool = True) -> dict:
        """JSON-able fields; ``execution=False`` leaves out the fields in ``EXECUTION_FIELDS``
        (they decide how runs are scheduled, not what they compute: not part of a store's
        fingerprint)."""
        d = {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
            for f in dataclasses.fields(self)
        }
        return d if execution else {k: v for k, v in d.items() if k not in self.EXECUTION_FIELDS}

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def parse_overrides(cls, pairs: Mapping[str, str]) -> dict[str, Any]:
        """``{"field": "text"}`` (from ``--set field=value``) -> typed values, by annotation:
        numbers, true/false, comma-separated tuples, ``none``. Unknown fields raise ValueError."""
        hints = typing.get_type_hints(cls)
        out = {}
        for name, text in pairs.items():
            if name not in hints or name not in cls.field_names():
                raise ValueError(f"{name}: unknown field (fields: {', '.join(cls.field_names())})")
            out[name] = _parse_text(name, hints[name], text)
        return out


def _parse_text(name: str, tp, text: str):
    tp, optional = _split_optional(tp)
    if optional and text.strip().lower() in ("none", "null", ""):
        return None
    if typing.get_origin(tp) is tuple:
        elem = typing.get_args(tp)[0]
        return tuple(_parse_text(name, elem, t) for t in text.split(",") if t.strip())
    t = text.strip()
    try:
        if tp is bool:
            if t.lower() in ("true", "1", "yes"):
                return True
            if t.lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if tp is int:
            f = float(t)
            return int(f) if f.is_integer() else f  # 2.5 is then refused by the field check
        if tp is float:
            return float(t)
        return t
    except ValueError:
        kind = {bool: "true or false", int: "an integer", float: "a number"}.get(tp, "a value")
        raise ValueError(f"{name}: must be {kind}, got {text!r}") from None


# ----------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    """One checked statement of the book.

    name: short id; statement: the book's claim in words; figure: figure / table / section;
    book: the book's value where it gives one (number or text), else None; measured: the
    measured number (or numbers); verdict: "held", "not held" or "n/a at this preset";
    min_preset: the smallest preset at which the claim is expected to hold; cause: for a
    claim not held, its likely cause in one line; detail: how ``measured`` was obtained;
    reproduces: False for a documented non-reproduction (see :func:`claim`).
    """

    name: str
    statement: str
    figure: str
    book: Any
    measured: Any
    verdict: str
    min_preset: str = "tiny"
    cause: str = ""
    detail: str = ""
    reproduces: bool = True

    def to_json(self) -> dict:
        return {k: _jsonable(v) for k, v in dataclasses.asdict(self).items()}

    @property
    def held(self) -> bool:
        return self.verdict == HELD


def preset_rank(preset: str) -> int:
    """Position of a preset in tiny < quick < paper (a custom preset counts as quick)."""
    return PRESETS.index(preset) if preset in PRESETS else 1


def claim(
    ds: xr.Dataset,
    *,
    name: str,
    statement: str,
    figure: str,
    book,
    measured,
    held: bool,
    if_not_held: str,
    min_preset: str = "tiny",
    detail: str = "",
    reproduces: bool = True,
) -> Claim:
    """Build a :class:`Claim` with its verdict from ``held`` and the Dataset's preset.

    ``measured`` must be a number (or a list of numbers): no claim without a number.
    ``if_not_held`` is the likely cause reported when the claim does not hold.
    ``reproduces=False`` marks a claim this project has measured NOT to hold at ``min_preset``
    (a documented non-reproduction): it is still checked and reported "not held" with its cause,
    but the test suites do not count it as a regression.

    Args:
      ds: the experiment's Dataset (its ``preset`` attr decides "not applicable" below
        ``min_preset``).
      name: short id;  statement: the claim in words;  figure: the book figure it backs;
      book: the book's value or description (None if none).
      measured, held, if_not_held, min_preset, reproduces: as above.
      detail: how the number was measured.
    Returns:
      :class:`Claim` with its verdict (HELD, NOT_HELD or NOT_APPLICABLE) and cause.
    """
    if min_preset not in PRESETS:
        raise ValueError(f"min_preset: one of {PRESETS}, got {min_preset!r}")
    vals = (
        np.atleast_1d(np.asarray(measured, dtype=float)) if not isinstance(measured, str) else None
    )
    if vals is None or vals.size == 0:
        raise ValueError(f"claim {name}: measured must be a number or numbers, got {measured!r}")
    measured = _round(measured)
    held = bool(held) and bool(np.any(np.isfinite(vals)))  # a claim measured as NaN never holds
    preset = ds.attrs.get("preset", "quick")
    if held:
        verdict, cause = HELD, ""
    elif preset_rank(preset) < preset_rank(min_preset):
        verdict, cause = NOT_APPLICABLE, f"needs the {min_preset} preset; {if_not_held}"
    else:
        verdict, cause = NOT_HELD, if_not_held
    return Claim(
        name,
        statement,
        figure,
        _round(book),
        measured,
        verdict,
        min_preset,
        cause,
        detail,
        bool(reproduces),
    )


def _round(v, digits: int = 4):
    if v is None or isinstance(v, str):
        return v
    arr = np.asarray(v, dtype=float)
    if arr.ndim == 0:
        f = float(arr)
        if f.is_integer() and abs(f) < 2**53:
            return int(f)
        return float(f"{f:.{digits}g}") if math.isfinite(f) else f
    return [_round(x, digits) for x in arr.tolist()]


def _jsonable(v):
    """Strict JSON values: NaN / inf become None, numpy scalars become Python numbers."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v


def dumps(obj) -> str:
    """Strict JSON text (``allow_nan=False``; NaN and inf become null)."""
    return json.dumps(_jsonable(obj), indent=1, allow_nan=False)


# ----------------------------------------------------------------------------- datasets


def describe(ds: xr.Dataset, meta: Mapping[str, tuple]) -> xr.Dataset:
    """Set ``long_name`` and ``units`` of variables: ``meta[var] = (long_name, units)`` or
    ``(long_name, units, description)``; units "1" for dimensionless, "" is not allowed.
    Returns ``ds`` (its variables' attrs set in place)."""
    for var, m in meta.items():
        if var not in ds.variables:
            continue
        ds[var].attrs["long_name"] = m[0]
        ds[var].attrs["units"] = m[1]
        if len(m) > 2:
            ds[var].attrs["description"] = m[2]
    return ds


def undescribed(ds: xr.Dataset) -> list[Hashable]:
    """Data variables without ``long_name`` or without ``units``/``description``."""
    return [
        v
        for v in ds.data_vars
        if "long_name" not in ds[v].attrs or not ({"units", "description"} & set(ds[v].attrs))
    ]


def _attr_value(v):
    if isinstance(v, bool):
        return int(v)
    if v is None:
        return "none"
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            return np.asarray(v)
        return json.dumps(v)
    return v


def stamp(ds: xr.Dataset, name: str, cfg: Config, preset: str) -> xr.Dataset:
    """Record the experiment, preset, config (as JSON and as flat ``config_<field>`` attrs) and
    the package version in ``ds.attrs``: ``name`` the experiment's registry name, ``cfg`` the
    config it ran, ``preset`` its preset label. Returns ``ds`` (attrs set in place)."""
    import phasekit

    ds.attrs["experiment"] = name
    ds.attrs["preset"] = preset
    ds.attrs["config"] = json.dumps(cfg.to_dict())
    for k, v in cfg.to_dict().items():
        ds.attrs[f"config_{k}"] = _attr_value(v)
    ds.attrs["phasekit_version"] = phasekit.__version__
    return ds


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Experiment:
    """A registered experiment.

    name: registry name ("optimistic-matrix"); area: book area (phase, condensation,
    embedding, dropout, rank, frequency, landscape, ntk, course, phenomena, anchor, pde); figure: the book's figure or
    table ("Fig 10.2"); title: one line; config: the :class:`Config` subclass; presets:
    ``{"tiny": {...}, "quick": {...}, "paper": {...}}`` field overrides of the config defaults;
    run: ``(cfg, store=None, shard=None, progress=True) -> xr.Dataset`` through
    :func:`phasekit.dynamics.sweep.run`; claims: ``(ds) -> list[Claim]``; figures:
    ``(ds) -> dict[name, matplotlib.figure.Figure]``, drawn from the Dataset alone.
    """

    name: str
    area: str
    figure: str
    title: str
    config: type[Config]
    presets: Mapping[str, Mapping[str, Any]]
    run: Callable[..., xr.Dataset]
    claims: Callable[[xr.Dataset], list]
    figures: Callable[[xr.Dataset], dict]

    def __post_init__(self):
        missing = [p for p in PRESETS if p not in self.presets]
        if missing:
            raise ValueError(f"presets: {self.name} lacks {missing}")
        for over in self.presets.values():
            self.config(**over)  # every preset must validate

    def preset(self, preset: str = "quick", **overrides) -> Config:
        """The config of ``preset`` with field ``overrides``."""
        if preset not in self.presets:
            raise ValueError(
                f"preset: {self.name} has presets {', '.join(self.presets)}; got {preset!r}"
            )
        unknown = [k for k in overrides if k not in self.config.field_names()]
        if unknown:
            raise ValueError(
                f"{unknown[0]}: unknown field of {self.name} "
                f"(fields: {', '.join(self.config.field_names())})"
            )
        return self.config(**{**self.presets[preset], **overrides})


REGISTRY: dict[str, Experiment] = {}


def register(exp: Experiment) -> Experiment:
    """Add ``exp`` to :data:`REGISTRY` under ``exp.name`` and return it (so an area module can
    write ``NAME = register(Experiment(...))``).

    Raises:
        ValueError: a second experiment of the same name.
    """
    if exp.name in REGISTRY:
        raise ValueError(f"name: experiment {exp.name!r} registered twice")
    REGISTRY[exp.name] = exp
    return exp
