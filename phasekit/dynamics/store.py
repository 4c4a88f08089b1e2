"""The sweep store: a directory of self-describing chunk files that never serves a wrong point.

    STORE/meta.json            what the sweep is (fingerprint, axes, the latest grid, output dims)
    STORE/chunk-<uuid>.npz     points: coordinates, outputs, fingerprint, layout, creation time
    STORE/lease-<id>.json      a chunk being computed (host, pid, time): concurrent writers split
                               the work instead of repeating it
    STORE/corrupt/             unreadable chunks set aside (their points are recomputed)

Rules (each tested in tests/test_store.py and tests/test_store_concurrency.py):

- **Fingerprint.** A chunk is used only by a sweep of the same fingerprint (axis names, key
  axes, base seed, key scheme, the caller's config; not the axis values, so grids grow).
- **Layout.** A chunk also records how it was computed (batching path, device count and kind,
  chunk size (lanes for continuous batching), backend, jax/jaxlib versions). The ``lax.map``
  path gives per-point results that do not depend on chunk size or device count (a run's body
  is compiled alone), so map chunks of the same backend and jax version are interchangeable.
  The ``vmap`` path does not (a vectorized reduction's order depends on the batch), and
  continuous batching (a vmapped batch of lanes) is treated alike: their chunks are reused only
  under the identical layout; a sweep whose groups take different paths checks each point
  against its own group's layout. A chunk of an incompatible layout is handled by
  ``on_layout_change``: "recompute" (default: it is ignored with a warning and its points are
  computed again), "refuse" (ValueError) or "reuse" (used, with a warning). The Dataset lists
  the layouts its points came from.
- **One copy.** A point stored more than once (an older version, a crash between write and
  rename of a concurrent writer, a layout change) is taken from its earliest-written
  compatible chunk (creation time, then file name): every load of a store gives the same
  numbers. Copies that disagree are reported (warning naming the points; :func:`check`).
- **Concurrent writers.** Before computing a chunk a writer creates its lease file with
  ``O_CREAT | O_EXCL`` (atomic on local file systems and on NFSv3+; advisory ``flock``/``fcntl``
  locks, which libraries such as filelock use, are not reliable on NFS, hence a lease file). A
  lease whose process is gone (same host) or older than ``PHASEKIT_LEASE_TIMEOUT`` seconds
  (default 6 h; other hosts) is taken over. A writer skips leased chunks, then waits for them.
- **Failures leave nothing behind.** The store is checked writable before anything is
  computed; temporary files are removed on every failure path (SIGTERM is turned into an
  exception during a sweep so that cleanup runs); temporary files and leases of dead processes
  are removed at the next start; a full disk raises ``OSError`` naming the path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Chunk",
    "LAYOUT_POLICIES",
    "Store",
    "UNFINGERPRINTED",
    "check",
    "fingerprint",
    "read_meta",
]

LAYOUT_POLICIES = ("recompute", "refuse", "reuse")
HOST = socket.gethostname()
HOST_ID = hashlib.blake2b(HOST.encode(), digest_size=4).hexdigest()


_UNREADABLE_LEASE_S = 60.0
UNFINGERPRINTED = (
    "version",
    "fingerprint",
    "grid",
    "dims",
    "coords",
)  # what a point's result does not depend on


def fingerprint(meta: Mapping) -> str:
    """Hex digest of what determines a point's result: the fields of ``meta`` other than the
    package version, the grid's values and output descriptions (axis *names*, static axes, key
    axes, base seed, key scheme, the caller's config)."""
    body = {k: v for k, v in meta.items() if k not in UNFINGERPRINTED}
    return hashlib.blake2b(json.dumps(body, sort_keys=True).encode(), digest_size=16).hexdigest()


def _differences(old: Mapping, new: Mapping, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k, "<absent>"), new.get(k, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: stored {a!r}, now {b!r}")
    return out


def compatible(stored: Mapping, current: Mapping) -> bool:
    """Whether a chunk computed under layout ``stored`` gives the bits ``current`` would."""
    same = lambda *keys: all(stored.get(k) == current.get(k) for k in keys)
    if not same("backend", "jax", "jaxlib", "batching"):
        return False
    if current.get("batching") == "map":
        return True
    return same("devices", "device_kind", "chunk_size", "process_count")


def _tmp_name(path: Path) -> Path:
    """``.tmp-<pid>.<host id>.<uuid>-<name>``: whose it is, so a later start removes only the
    temporary files of processes that are gone."""
    return path.with_name(f".tmp-{os.getpid()}.{HOST_ID}.{uuid.uuid4().hex}-{path.name}")


def atomic_write_bytes(path: Path, data) -> Path:
    """Write ``data`` to a temporary file beside ``path`` with plain Python I/O (a full disk
    raises ``OSError``), fsync, rename into place; the temporary file is removed on failure."""
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise OSError(e.errno, f"could not write {path}: {e.strerror or e}") from e
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lease_timeout() -> float:
    return float(os.environ.get("PHASEKIT_LEASE_TIMEOUT", 6 * 3600))


@contextlib.contextmanager
def sigterm_as_exception():
    """During the block, SIGTERM raises ``SystemExit`` (so ``finally`` cleanup runs) instead of
    ending the process at once. No-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


class Chunk(NamedTuple):
    """One readable chunk: name (its file name), created (creation time, ns), layout (dict),
    coords (axis name -> [P] values of its P points) and outputs (name -> [P, ...])."""

    name: str
    created: int
    layout: dict
    coords: dict
    outputs: dict


class Store:
    """The store of one sweep (see the module docstring). ``readonly=True`` never writes."""

    def __init__(
        self,
        path,
        meta: dict,
        *,
        layout: dict | None = None,
        on_layout_change: str = "recompute",
        readonly: bool = False,
    ):
        if on_layout_change not in LAYOUT_POLICIES:
            raise ValueError(
                f"on_layout_change: one of {', '.join(LAYOUT_POLICIES)}, got {on_layout_change!r}"
            )
        self.path = Path(path)
        self.readonly = readonly
        self.layout = layout or {}
        self.on_layout_change = on_layout_change
        self.fingerprint = meta["fingerprint"]
        self._seen: dict[str, Chunk | None] = {}
        if not readonly:
            self._prepare()
        old = read_meta(self.path)
        if old is not None and old.get("fingerprint") != self.fingerprint:
            if "fingerprint" not in old:
                raise ValueError(
                    f"store: {self.path} was written by phasekit {old.get('version', '< 0.2')} "
                    f"with another key scheme; its points cannot be mixed with new ones: "
                    f"use another store"
                )
            diff = _differences(
                {k: old.get(k) for k in meta if k not in UNFINGERPRINTED},
                {k: v for k, v in meta.items() if k not in UNFINGERPRINTED},
            )
            raise ValueError(
                f"store: {self.path} holds a sweep with different settings: "
                + "; ".join(diff or ["(fingerprints differ)"])
                + ". Use another store."
            )
        if not readonly and (old is None or {k: old.get(k) for k in meta} != meta):
            atomic_write_bytes(self.path / "meta.json", json.dumps(meta, indent=1).encode())

    # -- start-up: writable, stale temporaries and leases removed -------------------------

    def _prepare(self):
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = _tmp_name(self.path / "probe")
            try:
                probe.write_bytes(b"\0" * 4096)  # a full disk fails here, before any compute
            finally:
                probe.unlink(missing_ok=True)
        except OSError as e:
            raise OSError(e.errno, f"store: {self.path} is not writable: {e.strerror or e}") from e
        for tmp in self.path.glob(".tmp-*"):
            pid, host_id = (tmp.name[5:].split(".") + ["", ""])[:2]
            if self._stale([HOST if host_id == HOST_ID else host_id, pid], tmp):
                tmp.unlink(missing_ok=True)
        for lease in self.path.glob("lease-*.json"):
            if self._lease_stale(lease):
                lease.unlink(missing_ok=True)

    def _stale(self, host_pid, path: Path) -> bool:
        try:
            host, pid = host_pid[0], int(host_pid[1])
        except (IndexError, ValueError):  # a temporary file of an older version
            return True
        if host == HOST:
            return not _pid_alive(pid) or pid == os.getpid()
        try:
            return time.time() - path.stat().st_mtime > _lease_timeout()
        except FileNotFoundError:
            return False

    def _lease_stale(self, lease: Path) -> bool:
        try:
            info = json.loads(lease.read_text())
            return self._stale([info["host"], info["pid"]], lease)
        except (ValueError, KeyError, UnicodeDecodeError):
            # unreadable: garbage, or (on a file system without hard links) a lease being
            # written this instant; only an unreadable lease older than a minute is stale
            try:
                return time.time() - lease.stat().st_mtime > _UNREADABLE_LEASE_S
            except FileNotFoundError:
                return False
        except FileNotFoundError:
            return False

    # -- reading -------------------------------------------------------------------------

    def refresh(self) -> list[Chunk]:
        """Read the chunks not seen before (sorted by name); unreadable ones are set aside."""
        new, foreign = [], 0
        for p in sorted(self.path.glob("chunk-*.npz")):
            if p.name in self._seen:
                continue
            try:
                with np.load(p) as z:
                    arrays = {k: z[k] for k in z.files}
                fp = str(arrays.pop("fingerprint", ""))
                layout = json.loads(str(arrays.pop("layout", "{}")))
                created = int(arrays.pop("created", 0))
            except FileNotFoundError:
                continue
            except Exception as e:  # truncated zip, garbage bytes, bad header: never fatal
                self._seen[p.name] = None
                if not self.readonly:
                    self._set_aside(p, e)
                else:
                    warnings.warn(
                        f"store: unreadable chunk {p} ({type(e).__name__}: {e})", stacklevel=3
                    )
                continue
            if fp != self.fingerprint:
                self._seen[p.name] = None
                foreign += 1
                continue
            chunk = Chunk(
                p.name,
                created,
                layout,
                {k[7:]: v for k, v in arrays.items() if k.startswith("coord__")},
                {k[5:]: v for k, v in arrays.items() if k.startswith("out__")},
            )
            self._seen[p.name] = chunk
            new.append(chunk)
        if foreign:
            warnings.warn(
                f"store: {foreign} chunk(s) in {self.path} were computed by another sweep "
                f"configuration (fingerprint differs) and are ignored",
                stacklevel=3,
            )
        return new

    def chunks(self) -> list[Chunk]:
        self.refresh()
        return sorted(
            (c for c in self._seen.values() if c is not None), key=lambda c: (c.created, c.name)
        )

    def points(self, names, canonical, wanted=None, layout_of=None):
        """``{canonical coords: (outputs, layout)}`` by the one-copy rule, plus the list of
        points whose stored copies disagree. ``canonical(value) -> str`` canonicalizes a value.
        ``layout_of(canonical coords) -> layout``: the layout this run computes that point under
        (default: the store's ``layout`` for every point), when it differs between points."""
        chosen, disagree, incompatible = {}, set(), 0
        for chunk in self.chunks():
            ok = not self.layout or compatible(chunk.layout, self.layout)
            if layout_of is not None:
                ok = True  # checked per point below
            if not ok:
                if self.on_layout_change == "refuse":
                    raise ValueError(
                        f"store: chunk {chunk.name} of {self.path} was computed under another "
                        f"layout ({_layout_text(chunk.layout)}) than this run "
                        f"({_layout_text(self.layout)}); on_layout_change='refuse'"
                    )
                if self.on_layout_change == "recompute":
                    incompatible += len(chunk.coords[names[0]])  # its points
                    continue
            cvals = [chunk.coords[n] for n in names]
            for j in range(len(cvals[0])):
                c = tuple(canonical(cv[j]) for cv in cvals)
                if wanted is not None and c not in wanted:
                    continue
                if (
                    layout_of is not None
                    and not compatible(chunk.layout, layout_of(c))
                    and self.on_layout_change != "reuse"
                ):
                    if self.on_layout_change == "refuse":
                        raise ValueError(
                            f"store: chunk {chunk.name} of {self.path} was computed under another "
                            f"layout ({_layout_text(chunk.layout)}) than this run "
                            f"({_layout_text(layout_of(c))}); on_layout_change='refuse'"
                        )
                    incompatible += 1
                    continue
                row = {k: v[j] for k, v in chunk.outputs.items()}
                if c in chosen:
                    if any(
                        not np.array_equal(row[k], chosen[c][0][k], equal_nan=True) for k in row
                    ):
                        disagree.add(c)
                    continue
                chosen[c] = (row, chunk.layout)
        if incompatible:
            warnings.warn(
                f"store: {incompatible} stored point(s) of {self.path} were computed under another layout "
                f"and are not bit-compatible with this run ({_layout_text(self.layout)}); their "
                f"points are recomputed (on_layout_change='recompute')",
                stacklevel=3,
            )
        if disagree:
            shown = ", ".join(str(dict(zip(names, c))) for c in sorted(disagree)[:5])
            warnings.warn(
                f"store: {len(disagree)} point(s) of {self.path} have stored copies that disagree "
                f"(the earliest written copy is used): {shown}",
                stacklevel=3,
            )
        return chosen, sorted(disagree)

    def _set_aside(self, p: Path, err: Exception):
        dest = self.path / "corrupt"
        dest.mkdir(exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.replace(p, dest / p.name)
        warnings.warn(
            f"store: unreadable chunk {p} ({type(err).__name__}: {err}) moved to {dest}; "
            f"its points are recomputed",
            stacklevel=4,
        )

    # -- writing -------------------------------------------------------------------------

    def write(self, coords: dict, outputs: dict, layout: dict | None = None) -> Path:
        """Write one chunk (``layout``: how its points were computed, default the store's)."""
        import io

        layout = self.layout if layout is None else layout
        arrays = {f"coord__{k}": v for k, v in coords.items()} | {
            f"out__{k}": v for k, v in outputs.items()
        }
        arrays |= {
            "fingerprint": np.asarray(self.fingerprint),
            "layout": np.asarray(json.dumps(layout)),
            "created": np.asarray(time.time_ns(), np.int64),
        }
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        path = atomic_write_bytes(self.path / f"chunk-{uuid.uuid4().hex}.npz", buf.getvalue())
        # known without reading it back, so refresh() reports only other writers' chunks
        self._seen[path.name] = Chunk(
            path.name, int(arrays["created"]), layout, dict(coords), dict(outputs)
        )
        return path

    def claim(self, chunk_id: str) -> bool:
        """Take the lease of a chunk (False when a live writer holds it).

        The lease appears whole or not at all: its body is written to a temporary file that is
        then hard-linked to the lease name (``link`` fails when the name exists, atomically, on
        local file systems and NFS). A lease created empty and filled afterwards would be read
        as garbage (hence stale) by a writer starting in between, which would take it over and
        compute the chunk a second time."""
        lease = self.path / f"lease-{chunk_id}.json"
        body = json.dumps({"host": HOST, "pid": os.getpid(), "time": time.time()}).encode()
        for _ in range(2):
            try:
                self._create_whole(lease, body)
            except FileExistsError:
                if self._lease_stale(lease):
                    lease.unlink(missing_ok=True)  # taken over: its writer is gone
                    continue
                return False
            return True
        return False

    @staticmethod
    def _create_whole(path: Path, body: bytes):
        """Create ``path`` holding ``body``; FileExistsError when it exists."""
        tmp = _tmp_name(path)
        try:
            tmp.write_bytes(body)  # a full disk raises here
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links: exclusive create, then write
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                with os.fdopen(fd, "wb") as f:
                    f.write(body)
        finally:
            tmp.unlink(missing_ok=True)

    def release(self, chunk_id: str):
        (self.path / f"lease-{chunk_id}.json").unlink(missing_ok=True)


def _layout_text(layout: Mapping) -> str:
    return ", ".join(
        f"{k}={layout.get(k)}"
        for k in ("batching", "devices", "device_kind", "chunk_size", "backend", "jax")
        if k in layout
    )


def read_meta(path) -> dict | None:
    """``STORE/meta.json`` as a dict; None when missing; a warning and None when unreadable.

    Args:
      path: the store's directory.
    """
    meta_path = Path(path) / "meta.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
        return meta
    except (ValueError, UnicodeDecodeError) as e:
        warnings.warn(
            f"store: {meta_path} is unreadable ({e}); it is rebuilt by the next run. Chunks are "
            f"checked against their own fingerprints.",
            stacklevel=3,
        )
        return None


def check(path) -> dict[str, Any]:
    """Report on a store without changing it: chunks, readable / unreadable / foreign chunks,
    points, duplicated points and those whose copies disagree, layouts, orphaned temporary
    files and leases.

    Args:
      path: the store's directory.
    Returns:
      a dict: ``store`` (path), ``meta`` (bool), ``chunks``, ``foreign``, ``points``,
      ``duplicates`` (ints), ``unreadable`` (chunk names with the error), ``disagreeing``
      (coordinates of points whose copies differ), ``layouts``, ``temporary_files``, ``leases``.
    """
    path = Path(path)
    meta = read_meta(path)
    report: dict[str, Any] = {
        "store": str(path),
        "meta": meta is not None,
        "chunks": 0,
        "unreadable": [],
        "foreign": 0,
        "points": 0,
        "duplicates": 0,
        "disagreeing": [],
        "layouts": [],
        "temporary_files": [],
        "leases": [],
    }
    if meta is None:
        return report
    axes = meta.get("axes", [])
    seen: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
    layouts: list[dict[str, Any]] = []
    for p in sorted(path.glob("chunk-*.npz")):
        report["chunks"] += 1
        try:
            with np.load(p) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as e:
            report["unreadable"].append(f"{p.name}: {type(e).__name__}")
            continue
        if str(arrays.get("fingerprint", "")) != meta.get("fingerprint"):
            report["foreign"] += 1
            continue
        layout = json.loads(str(arrays.get("layout", "{}")))
        if layout not in layouts:
            layouts.append(layout)
        cvals = [arrays[f"coord__{n}"] for n in axes]
        outs = {k: v for k, v in arrays.items() if k.startswith("out__")}
        for j in range(len(cvals[0]) if cvals else 0):
            c = tuple(str(cv[j].item()) for cv in cvals)
            row = {k: v[j] for k, v in outs.items()}
            if c in seen:
                report["duplicates"] += 1
                if any(not np.array_equal(row[k], seen[c][k], equal_nan=True) for k in row):
                    report["disagreeing"].append(dict(zip(axes, c)))
            else:
                seen[c] = row
    report["points"] = len(seen)
    report["layouts"] = layouts
    report["temporary_files"] = sorted(p.name for p in path.glob(".tmp-*"))
    report["leases"] = sorted(p.name for p in path.glob("lease-*.json"))
    return report
