"""Charts of an experiment's evidence as plain inline SVG: no library, no script, no font, readable offline.

Each function takes the evidence a checkpoint recorded and returns the chart's data (:func:`*_data`, unit-tested)
or its SVG. A chart is drawn only where the evidence has what it needs; otherwise there is none (never a guess).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

W, PAD_L, PAD_R = 720, 56, 56
OLD, NEW, GAP, OK, FAIL, CPU, LAT, GRID = "#90a4ae", "#2e7d32", "#f9a825", "#1565c0", "#c62828", "#6a1b9a", "#ef6c00", "#e0e0e0"
FAIL_ROWS = {"refused": 0, "timeout": 1, "reset": 2}


def _label(x: float, y: float, text: str, size: int = 11, anchor: str = "start", color: str = "#333") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{color}">{escape(text)}</text>'


def _svg(height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="100%" role="img" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>' + "".join(body) + "</svg>")


# --- Phase 1: the load sweep ---------------------------------------------------------------------

def sweep_data(ev: dict[str, Any]) -> list[dict[str, float]]:
    """One row per concurrency level: clients, req/s, median latency (ms), peak CPU (%)."""
    return [{"clients": float(s["concurrency"]), "rps": float(s.get("rps") or 0), "p50_ms": float(s.get("p50_ms") or 0),
             "cpu": float(s.get("cpu_peak_pct") or 0)} for s in ev.get("steps") or []]


def sweep_svg(ev: dict[str, Any], labels: dict[str, str]) -> str | None:
    rows = sweep_data(ev)
    if not rows:
        return None
    h, top, bottom = 240, 20, 200
    plot = W - PAD_L - PAD_R
    slot = plot / len(rows)
    max_rps = max(max(r["rps"] for r in rows), 1.0)
    max_lat = max(max(r["p50_ms"] for r in rows), 1.0)
    body = [f'<line x1="{PAD_L}" y1="{bottom}" x2="{W - PAD_R}" y2="{bottom}" stroke="#999"/>']
    y90 = bottom - 0.9 * (bottom - top)
    body.append(f'<line x1="{PAD_L}" y1="{y90:.1f}" x2="{W - PAD_R}" y2="{y90:.1f}" stroke="{CPU}" stroke-dasharray="4 3"/>')
    body.append(_label(W - PAD_R + 4, y90 + 4, "90 % CPU", 10, color=CPU))
    best = max(rows, key=lambda r: r["rps"])
    cpu_pts, lat_pts = [], []
    for n, r in enumerate(rows):
        x = PAD_L + n * slot + slot * 0.2
        bh = (bottom - top) * r["rps"] / max_rps
        color = OK if r is not best else "#0d47a1"
        body.append(f'<rect x="{x:.1f}" y="{bottom - bh:.1f}" width="{slot * 0.6:.1f}" height="{bh:.1f}" fill="{color}" opacity="0.75"/>')
        body.append(_label(x + slot * 0.3, bottom - bh - 4, f"{r['rps']:.0f}", 10, "middle"))
        body.append(_label(x + slot * 0.3, bottom + 14, f"{r['clients']:.0f}", 11, "middle"))
        cx = x + slot * 0.3
        cpu_pts.append(f"{cx:.1f},{bottom - (bottom - top) * min(r['cpu'], 100) / 100:.1f}")
        lat_pts.append(f"{cx:.1f},{bottom - (bottom - top) * r['p50_ms'] / max_lat:.1f}")
    body.append(f'<polyline points="{" ".join(cpu_pts)}" fill="none" stroke="{CPU}" stroke-width="2"/>')
    body.append(f'<polyline points="{" ".join(lat_pts)}" fill="none" stroke="{LAT}" stroke-width="2" stroke-dasharray="6 3"/>')
    body.append(_label(PAD_L, bottom + 32, labels["clients"], 11))
    body.append(_label(PAD_L, 12, f"■ {labels['rps']} (best {best['rps']:.0f})", 11, color=OK))
    body.append(_label(PAD_L + 260, 12, f"— {labels['cpu']}", 11, color=CPU))
    body.append(_label(PAD_L + 420, 12, f"- - {labels['p50']} (max {max_lat:.0f} ms)", 11, color=LAT))
    return _svg(h, body, labels["sweep"])


# --- Phase 1: the outage -------------------------------------------------------------------------

def outage_svg(kill: dict[str, Any], recovery: dict[str, Any], labels: dict[str, str]) -> str | None:
    """docker kill at 0, the refused probes, docker start, the first success; the downtime labelled."""
    down, start = recovery.get("downtime_s"), recovery.get("restart_issued_after_s")
    if down is None or start is None:
        return None
    h, y = 110, 55
    span = max(float(down) * 1.15, 0.5)
    scale = (W - PAD_L - PAD_R) / span

    def x(t: float) -> float:
        return PAD_L + t * scale

    body = [f'<rect x="{x(0):.1f}" y="{y - 10}" width="{x(float(down)) - x(0):.1f}" height="20" fill="{FAIL}" opacity="0.18"/>',
            f'<line x1="{PAD_L}" y1="{y}" x2="{W - PAD_R}" y2="{y}" stroke="#999"/>']
    probes = kill.get("probes_after_kill") or []
    for n, fate in enumerate(probes):
        px = x(min(float(start), 0.2 * (n + 1)) * 0.9)
        body.append(f'<circle cx="{px:.1f}" cy="{y}" r="4" fill="{FAIL if fate != "ok" else NEW}"><title>{escape(str(fate))}</title></circle>')
    for t_, text, color in ((0.0, "docker kill", FAIL), (float(start), "docker start", "#333"), (float(down), labels["first_ok"], NEW)):
        body.append(f'<line x1="{x(t_):.1f}" y1="{y - 22}" x2="{x(t_):.1f}" y2="{y + 22}" stroke="{color}" stroke-width="2"/>')
        body.append(_label(x(t_), y - 26, text, 11, "middle", color))
    body.append(_label((x(0) + x(float(down))) / 2, y + 38, f"{labels['downtime']} {float(down):.1f} s", 12, "middle", FAIL))
    return _svg(h, body, labels["outage"])


# --- Phase 2 and 3: replacements over time with the traffic underneath -----------------------------

@dataclass
class SlotRow:
    slot: str
    stop: float  # seconds from the experiment's start: the old task told to stop
    start: float  # the new task started


@dataclass
class RolloutData:
    seconds: float
    slots: list[SlotRow] = field(default_factory=list)
    ok_per_s: list[int] = field(default_factory=list)
    failed: list[tuple[float, str]] = field(default_factory=list)


def rollout_data(ev: dict[str, Any]) -> RolloutData | None:
    """Task slots (old → new) and the steady traffic of an update or rollback, on one time axis from its start."""
    line = ev.get("timeline")
    if not isinstance(line, dict):
        return None
    t0 = float(line["t0"])
    slots = [SlotRow(str(r["slot"]), float(r["stop"]) - t0, float(r["start"]) - t0) for r in ev.get("replacements") or []]
    return RolloutData(float(line["seconds"]), slots, list(line.get("ok_per_s") or []), [(float(a), str(k)) for a, k in line.get("failed") or []])


def _traffic(d: RolloutData, x: Any, top: int, labels: dict[str, str]) -> list[str]:
    """Successes per second as bars, every failed request as one red mark, its row by kind."""
    body = []
    peak = max(d.ok_per_s or [1]) or 1
    for n, count in enumerate(d.ok_per_s):
        bh = 40 * count / peak
        body.append(f'<rect x="{x(n):.1f}" y="{top + 40 - bh:.1f}" width="{max(x(n + 1) - x(n) - 0.5, 0.5):.1f}" height="{bh:.1f}" fill="{OK}" opacity="0.5"/>')
    for at, kind in d.failed:
        row = FAIL_ROWS.get(kind, 3)
        body.append(f'<line class="failed" x1="{x(at):.1f}" y1="{top + 48 + row * 7}" x2="{x(at):.1f}" y2="{top + 54 + row * 7}" '
                    f'stroke="{FAIL}" stroke-width="2"><title>{escape(kind)} at {at:.2f} s</title></line>')
    body.append(_label(PAD_L - 4, top + 30, labels["ok_s"], 10, "end", OK))
    body.append(_label(PAD_L - 4, top + 58, f"{labels['failed']} ({len(d.failed)})", 10, "end", FAIL))
    return body


def rollout_svg(ev: dict[str, Any], labels: dict[str, str]) -> str | None:
    d = rollout_data(ev)
    if d is None:
        return None
    rows = len(d.slots)
    top = 24 + rows * 18 + 10
    h = top + 100
    span = max(d.seconds, 1.0)
    scale = (W - PAD_L - PAD_R) / span

    def x(t: float) -> float:
        return PAD_L + max(0.0, min(t, span)) * scale

    body = []
    for n, s in enumerate(d.slots):
        y = 20 + n * 18
        body.append(f'<rect x="{x(0):.1f}" y="{y}" width="{x(s.stop) - x(0):.1f}" height="12" fill="{OLD}"/>')
        body.append(f'<rect x="{x(s.stop):.1f}" y="{y}" width="{max(x(s.start) - x(s.stop), 1):.1f}" height="12" fill="{GAP}"/>')
        body.append(f'<rect x="{x(s.start):.1f}" y="{y}" width="{x(span) - x(s.start):.1f}" height="12" fill="{NEW}"/>')
        body.append(_label(PAD_L - 4, y + 10, f"{labels['slot']} {s.slot}", 10, "end"))
        body.append(f'<line x1="{x(s.start):.1f}" y1="{20}" x2="{x(s.start):.1f}" y2="{top + 80}" stroke="{NEW}" stroke-dasharray="2 3" opacity="0.6"/>')
    body += _traffic(d, x, top, labels)
    for t_ in range(0, int(span) + 1, max(10, int(span) // 8 or 1)):
        body.append(_label(x(t_), h - 4, f"{t_} s", 10, "middle", "#666"))
    legend = [(OLD, labels["old"]), (GAP, labels["replacing"]), (NEW, labels["new"])]
    for n, (color, text) in enumerate(legend):
        body.append(f'<rect x="{PAD_L + n * 160}" y="2" width="10" height="10" fill="{color}"/>' + _label(PAD_L + 14 + n * 160, 11, text, 11))
    return _svg(h, body, labels["rollout"])


def healing_svg(ev: dict[str, Any], labels: dict[str, str]) -> str | None:
    """The killed task (or deleted pod), its replacement's start, and the requests in between."""
    line = ev.get("timeline")
    if not isinstance(line, dict) or ev.get("killed_at") is None:
        return None
    t0 = float(line["t0"])
    d = RolloutData(float(line["seconds"]), [], list(line.get("ok_per_s") or []), [(float(a), str(k)) for a, k in line.get("failed") or []])
    span = max(d.seconds, 1.0)
    scale = (W - PAD_L - PAD_R) / span

    def x(t: float) -> float:
        return PAD_L + max(0.0, min(t, span)) * scale

    killed = float(ev["killed_at"]) - t0
    body = _traffic(d, x, 30, labels)
    body.append(f'<line x1="{x(killed):.1f}" y1="16" x2="{x(killed):.1f}" y2="110" stroke="{FAIL}" stroke-width="2"/>')
    body.append(_label(x(killed), 14, labels["killed"], 11, "middle", FAIL))
    if ev.get("recovery_s") is not None:
        back = killed + float(ev["recovery_s"])
        body.append(f'<line x1="{x(back):.1f}" y1="16" x2="{x(back):.1f}" y2="110" stroke="{NEW}" stroke-width="2"/>')
        body.append(_label(x(back), 124, f"{labels['replaced']} +{float(ev['recovery_s']):.1f} s", 11, "middle", NEW))
    return _svg(130, body, labels["healing"])


def bars_svg(values: dict[str, float], title: str, unit: str = "") -> str | None:
    """Horizontal bars (the load-balancing distribution, a convergence time)."""
    if not values:
        return None
    top = max(values.values()) or 1
    h = 16 + 20 * len(values)
    body = []
    for n, (name, value) in enumerate(values.items()):
        y = 8 + n * 20
        body.append(_label(PAD_L + 90, y + 11, name[:14], 10, "end"))
        body.append(f'<rect x="{PAD_L + 96}" y="{y}" width="{(W - PAD_L - PAD_R - 140) * value / top:.1f}" height="14" fill="{OK}" opacity="0.8"/>')
        body.append(_label(PAD_L + 100 + (W - PAD_L - PAD_R - 140) * value / top, y + 11, f"{value:g}{unit}", 10))
    return _svg(h, body, title)


def compare_svg(rows: list[dict[str, Any]], labels: dict[str, str]) -> str | None:
    """Swarm beside Kubernetes, measure by measure, each pair on its own scale."""
    pairs = [(r["measure"], float(r["swarm"]), float(r["kubernetes"])) for r in rows
             if isinstance(r.get("swarm"), (int, float)) and isinstance(r.get("kubernetes"), (int, float))]
    if not pairs:
        return None
    h = 24 + 34 * len(pairs)
    body = [f'<rect x="{PAD_L + 200}" y="4" width="10" height="10" fill="{OLD}"/>' + _label(PAD_L + 214, 13, "Swarm", 11),
            f'<rect x="{PAD_L + 300}" y="4" width="10" height="10" fill="{NEW}"/>' + _label(PAD_L + 314, 13, "Kubernetes", 11)]
    width = W - PAD_L - PAD_R - 240
    for n, (name, a, b) in enumerate(pairs):
        y = 22 + n * 34
        top = max(a, b) or 1
        body.append(_label(PAD_L + 190, y + 16, name, 10, "end"))
        for k, (value, color) in enumerate(((a, OLD), (b, NEW))):
            body.append(f'<rect x="{PAD_L + 196}" y="{y + k * 14}" width="{width * value / top:.1f}" height="12" fill="{color}"/>')
            body.append(_label(PAD_L + 200 + width * value / top, y + k * 14 + 10, f"{value:g}", 10))
    return _svg(h, body, labels["compare"])
