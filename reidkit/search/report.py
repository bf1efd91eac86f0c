"""A self-contained HTML report of a search: the query, the timelines, and each moment's thumbnail.

The timelines: one row per video on its own time, and where the files say when they were recorded,
one row per folder (a camera's) on one clock above them.

``write_report(result, "out/")`` writes ``out/index.html`` with the query crop and the thumbnails copied
beside it, so the folder can be zipped or opened anywhere; no external assets. The web app renders the
same page body with :func:`render_results`, pointing the images at its own URLs.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np

from reidkit.media.recorded import iso_utc, local_text
from reidkit.search.engine import SearchResult
from reidkit.search.moments import Moment

# The score range the colour ramp spans; most matches of a real person fall inside it.
RAMP_LOW, RAMP_HIGH = 0.2, 0.9
RAMP_COLOURS = ((219, 230, 250), (29, 78, 216))  # pale to deep blue: readable for colour-blind eyes

CSS = """
:root { --ink:#1f2328; --muted:#656d76; --line:#d0d7de; --bg:#f6f8fa; --card:#fff; --accent:#1d4ed8; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--ink);
       background:var(--bg); }
main { max-width:1120px; margin:0 auto; padding:28px 24px 48px; }
header.top { display:flex; gap:24px; align-items:center; background:var(--card); border:1px solid var(--line);
       border-radius:12px; padding:18px 22px; }
header.top img.query { height:160px; width:auto; border-radius:8px; background:#000; object-fit:contain; }
header.top h1 { margin:0 0 6px; font-size:24px; }
header.top .meta { color:var(--muted); font-size:13px; }
header.top .meta code { font-size:12px; background:var(--bg); padding:1px 5px; border-radius:4px; }
h2 { font-size:16px; margin:30px 0 12px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted); }
.timeline { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:14px 22px 8px; }
.track { padding:10px 0 14px; border-bottom:1px solid var(--bg); }
.track:last-child { border-bottom:0; }
.track .label { display:flex; justify-content:space-between; font-size:14px; margin-bottom:6px; }
.track .label span { color:var(--muted); font-size:13px; }
.bar { position:relative; height:26px; background:repeating-linear-gradient(90deg,#eef1f4 0 1px,#f6f8fa 1px 10%);
       border:1px solid var(--line); border-radius:6px; overflow:hidden; }
.bar a { position:absolute; top:2px; bottom:2px; min-width:5px; border-radius:3px; box-shadow:0 0 0 1px #fff;
       font-size:11px; font-weight:600; line-height:22px; text-align:center; text-decoration:none; overflow:hidden; }
.bar a:hover { outline:2px solid var(--ink); z-index:2; }
.ticks { position:relative; height:16px; font-size:11px; color:var(--muted); }
.ticks span { position:absolute; transform:translateX(-50%); }
.ticks span:first-child { transform:none; } .ticks span:last-child { transform:translateX(-100%); }
.timeline h3 { font-size:14px; margin:10px 0 0; }
.legend { display:flex; align-items:center; gap:8px; font-size:12px; color:var(--muted); margin:6px 0 4px; }
.legend .ramp { width:140px; height:10px; border-radius:5px; border:1px solid var(--line); }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(170px,1fr)); gap:14px; }
.card { display:block; background:var(--card); border:1px solid var(--line); border-radius:10px; overflow:hidden;
        color:inherit; text-decoration:none; }
.card:target { outline:3px solid var(--accent); }
.card .thumb { position:relative; height:210px; background:#0d1117; display:flex; align-items:center;
        justify-content:center; }
.card .thumb img { width:100%; height:100%; object-fit:contain; }
.card .rank { position:absolute; left:8px; top:8px; background:rgba(0,0,0,.65); color:#fff; font-weight:600;
        font-size:12px; padding:2px 7px; border-radius:10px; }
.card .likely { position:absolute; right:8px; top:8px; background:#1a7f37; color:#fff; font-size:11px;
        padding:2px 7px; border-radius:10px; }
.card .body { padding:9px 11px 11px; }
.card .name { font-weight:600; font-size:13px; overflow-wrap:anywhere; }
.card .when { font-variant-numeric:tabular-nums; font-size:13px; }
.card .frames, .card .when span { color:var(--muted); font-size:12px; }
.score { display:flex; align-items:center; gap:8px; margin-top:6px; font-variant-numeric:tabular-nums;
        font-size:13px; font-weight:600; }
.score .meter { flex:1; height:6px; background:var(--bg); border-radius:3px; overflow:hidden; }
.score .meter i { display:block; height:100%; }
.empty { background:var(--card); border:1px dashed var(--line); border-radius:12px; padding:28px;
        text-align:center; color:var(--muted); }
footer { margin-top:30px; color:var(--muted); font-size:12px; }
"""


def format_time(seconds: float) -> str:
    """Seconds -> ``mm:ss.s`` (``h:mm:ss.s`` past an hour)."""
    tenths = round(max(0.0, seconds) * 10)
    minutes, tenth_seconds = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    text = f"{minutes:02d}:{tenth_seconds // 10:02d}.{tenth_seconds % 10}"
    return f"{hours}:{text}" if hours else text


def score_colour(score: float) -> str:
    t = min(1.0, max(0.0, (score - RAMP_LOW) / (RAMP_HIGH - RAMP_LOW)))
    low, high = RAMP_COLOURS
    r, g, b = (round(a + (c - a) * t) for a, c in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(m: Moment) -> str:
    if m.kind == "image":
        return "photo"
    return f"{format_time(m.start)} – {format_time(m.end)} <span>({m.end - m.start:.1f} s)</span>"


def _recorded(m: Moment) -> str:
    """When the moment happened on the clock (this computer's time zone), if the file says."""
    start = m.recorded_start
    if start is None:
        return ""
    return (
        f'<div class="frames">recorded <time datetime="{iso_utc(start)}">{_esc(local_text(start))}</time>'
        "</div>"
    )


def _frames(m: Moment) -> str:
    if m.kind == "image":
        return f"in {m.folder}/"  # "photo" is already said; where it lives is news
    if m.start_frame == m.end_frame:
        return f"frame {m.start_frame}"
    return f"frames {m.start_frame}–{m.end_frame}"


def _track(
    label: str, title: str, detail: str, bars: list[tuple[int, Moment, float, float]], ticks: list[str]
) -> str:
    """One timeline row: ``bars`` are (rank, moment, left %, width %), weakest drawn first so the
    strongest matches are on top where they overlap."""
    segments = []
    for rank, m, left, width in sorted(bars, key=lambda bar: bar[1].score):
        tip = f"#{rank} {Path(m.media).name} {format_time(m.start)}–{format_time(m.end)} score {m.score:.2f}"
        if m.recorded_start is not None:
            tip += f" (recorded {local_text(m.recorded_start)})"
        ink = "#fff" if m.score >= (RAMP_LOW + RAMP_HIGH) / 2 else "#1f2328"
        segments.append(
            f'<a href="#m{rank}" title="{_esc(tip)}" style="left:{left:.3f}%;width:{width:.3f}%;'
            f'background:{score_colour(m.score)};color:{ink}">{rank if width >= 2.5 else ""}</a>'
        )
    spans = "".join(
        f"<span style='left:{100 * i / (len(ticks) - 1):.0f}%'>{_esc(t)}</span>" for i, t in enumerate(ticks)
    )
    return (
        f'<div class="track"><div class="label"><b title="{_esc(title)}">{_esc(label)}</b>'
        f"<span>{_esc(detail)}</span></div>"
        f'<div class="bar">{"".join(segments)}</div><div class="ticks">{spans}</div></div>'
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _video_tracks(moments: list[Moment]) -> list[str]:
    """One row per video, on the video's own time."""
    videos: dict[str, list[tuple[int, Moment]]] = {}
    for rank, m in enumerate(moments, 1):
        if m.kind == "video":
            videos.setdefault(m.media, []).append((rank, m))
    rows = []
    for media, ranked in videos.items():
        duration = max(ranked[0][1].media_duration, max(m.end for _, m in ranked), 1e-6)
        bars = [
            (rank, m, 100.0 * m.start / duration, 100.0 * (m.end - m.start) / duration) for rank, m in ranked
        ]
        ticks = [format_time(duration * i / 4) for i in range(5)]
        detail = f"{_plural(len(ranked), 'moment')} · {format_time(duration)}"
        rows.append(_track(Path(media).name, media, detail, bars, ticks))
    return rows


def _clock_tracks(moments: list[Moment]) -> list[str]:
    """Moments whose files say when they were recorded, one row per folder (a camera's, for the
    segments reidkit records), on one clock in this computer's time zone."""
    folders: dict[str, list[tuple[int, Moment, float, float]]] = {}
    for rank, m in enumerate(moments, 1):
        if m.recorded_start is not None and m.recorded_end is not None:
            folders.setdefault(m.folder, []).append((rank, m, m.recorded_start, m.recorded_end))
    if not folders:
        return []
    first = min(start for rows in folders.values() for _, _, start, _ in rows)
    last = max(end for rows in folders.values() for _, _, _, end in rows)
    span = max(last - first, 60.0) * 1.04  # a minute at least, and 2 % of room on each side
    origin = first - span / 1.04 * 0.02
    shape = "%b %d %H:%M" if span > 20 * 3600 else "%H:%M" if span > 600 else "%H:%M:%S"
    ticks = [datetime.fromtimestamp(origin + span * i / 4).strftime(shape) for i in range(5)]
    out = []
    for folder, rows in folders.items():
        bars = [(rank, m, 100.0 * (a - origin) / span, 100.0 * (b - a) / span) for rank, m, a, b in rows]
        files = len({m.media for _, m, _, _ in rows})
        detail = f"{_plural(len(rows), 'moment')} · {_plural(files, 'file')}"
        out.append(_track(folder or "/", str(Path(rows[0][1].media).parent), detail, bars, ticks))
    return out


def _timelines(moments: list[Moment]) -> str:
    clock, videos = _clock_tracks(moments), _video_tracks(moments)
    if not clock and not videos:
        return ""
    low, high = (score_colour(RAMP_LOW), score_colour(RAMP_HIGH))
    legend = (
        f'<div class="legend">score {RAMP_LOW:.1f}<span class="ramp" style="background:linear-gradient(90deg,'
        f'{low},{high})"></span>{RAMP_HIGH:.1f}</div>'
    )
    if clock:
        body = '<h3 id="clock">By the clock</h3>' + "".join(clock)
        if videos:
            body += "<h3>By video</h3>" + "".join(videos)
    else:
        body = "".join(videos)
    return f'<h2>Timeline</h2><div class="timeline">{body}{legend}</div>'


def _cards(moments: list[Moment], image_src: Callable[[int, Moment], str]) -> str:
    if not moments:
        return (
            '<h2>Moments</h2><div class="empty">No moments scored high enough. Try a lower '
            "<code>--min-score</code>, a tighter crop of the person, or index more media.</div>"
        )
    cards = []
    for rank, m in enumerate(moments, 1):
        likely = '<span class="likely">likely match</span>' if m.likely else ""
        pct = 100.0 * min(1.0, max(0.0, m.score))
        cards.append(
            f'<a class="card" id="m{rank}" href="{_esc(_file_url(m.media))}" title="{_esc(m.media)}">'
            f'<div class="thumb"><img src="{_esc(image_src(rank, m))}" alt="moment {rank}" loading="lazy">'
            f'<span class="rank">#{rank}</span>{likely}</div><div class="body">'
            f'<div class="name">{_esc(Path(m.media).name)}</div>'
            f'<div class="when">{_when(m)}</div><div class="frames">{_esc(_frames(m))}</div>{_recorded(m)}'
            f'<div class="score">{m.score:.3f}<span class="meter"><i style="width:{pct:.1f}%;'
            f'background:{score_colour(m.score)}"></i></span></div></div></a>'
        )
    return f'<h2>Moments</h2><div class="grid">{"".join(cards)}</div>'


def _file_url(path: str) -> str:
    try:
        return Path(path).resolve().as_uri()
    except ValueError:
        return path


def render_results(
    result: SearchResult, image_src: Callable[[int, Moment], str], query_src: str | None
) -> str:
    """The report's body (query header, timelines, moment cards) as an HTML fragment."""
    verdict = result.verdict
    likely = [m for m in result.moments if m.likely]
    videos = len({m.media for m in likely if m.kind == "video"})
    photos = len({m.media for m in likely if m.kind == "image"})
    where = [f"{k} {noun}{'s' if k != 1 else ''}" for k, noun in ((videos, "video"), (photos, "photo")) if k]
    if likely:
        count = (
            f"{len(likely)}+ moments"
            if result.more_likely
            else f"{len(likely)} moment{'s' if len(likely) != 1 else ''}"
        )
        headline = f"Found: {count} in {' and '.join(where)}"
    else:
        headline = "Not found"
    others = len(result.moments) - len(likely)
    below = f" · {others} other candidate{'s' if others != 1 else ''}" if others else ""
    if result.more_likely:
        below += f" · more likely moments than these {len(result.moments)}: search with a larger --top"
    query_img = f'<img class="query" src="{_esc(query_src)}" alt="query person">' if query_src else ""
    header = (
        f'<header class="top">{query_img}<div><h1>{_esc(headline)}</h1>'
        f'<div class="meta">query <code>{_esc(Path(result.query).name)}</code> · model '
        f"<code>{_esc(result.model)}</code> · “likely match”: the best match at score ≥ {verdict.threshold:.3f}"
        f" ({_esc(verdict.source)}) and the moments of the same person{below}</div>"
        f"</div></header>"
    )
    return header + _timelines(result.moments) + _cards(result.moments, image_src)


def page(title: str, body: str, extra_head: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style>{extra_head}</head>"
        f"<body><main>{body}</main></body></html>"
    )


def safe_file_name(name: str) -> str:
    """``name`` with the bytes that are not UTF-8 (surrogate escapes, from a file name the file system
    gave as raw bytes) shown as U+FFFD, so the name can be written, printed and put in a URL."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    """Encode in memory and write the bytes with Python: ``cv2.imwrite`` crashes the process (SIGSEGV)
    on a path with surrogate escapes, so OpenCV never sees a path here."""
    import cv2

    ok, data = cv2.imencode(".jpg", image)
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} image as JPEG")
    path.write_bytes(data.tobytes())


def write_report(result: SearchResult, out_dir: str | Path) -> Path:
    """Write ``out_dir/index.html`` plus the query crop and thumbnails it shows; returns the HTML path.

    Raises OSError when ``out_dir`` cannot be written (the caller says so and goes on)."""
    out = Path(out_dir)
    (out / "thumbs").mkdir(parents=True, exist_ok=True)
    query_src = None
    if result.query_crop is not None:
        _write_jpeg(out / "query.jpg", result.query_crop)
        query_src = "query.jpg"
    elif Path(result.query).is_file():
        query_src = "query" + safe_file_name(Path(result.query).suffix.lower())
        shutil.copyfile(result.query, out / query_src)

    sources: dict[int, str] = {}
    for rank, m in enumerate(result.moments, 1):
        name = f"thumbs/{rank:03d}{Path(m.thumbnail).suffix or '.jpg'}"
        if Path(m.thumbnail).is_file():
            shutil.copyfile(m.thumbnail, out / name)
        sources[rank] = name

    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    body = render_results(result, lambda rank, _m: sources[rank], query_src)
    body += f"<footer>reidkit search report · {stamp}</footer>"
    target = out / "index.html"
    text = page(f"reidkit: {Path(result.query).name}", body)
    target.write_text(safe_file_name(text), encoding="utf-8")  # names of files not in UTF-8 show as U+FFFD
    return target
