"""How a take reads in the page: its lines (a card's Details, the Takes tab's info) and its table row."""

from __future__ import annotations

from ..library.takes import Take

TABLE_HEADERS = [
    "created (UTC)", "kind", "variant", "size", "sound", "edit", "seed", "time (s)", "approved", "parent", "prompt",
    "worker", "id",
]  # fmt: skip
TABLE_WIDTHS = [
    "150px", "80px", "80px", "120px", "150px", "170px", "110px", "75px", "85px", "170px", "260px", "90px", "175px",
]  # fmt: skip
WHAT = {"both": "picture and sound", "video": "picture", "audio": "sound"}


def take_markdown(take: Take) -> str:
    """What a person wants to know about a take, in two or three short lines (Markdown)."""
    first, *rest = take_lines(take)
    return "\n\n".join([f"**{first}**", *rest])


def take_lines(take: Take) -> list[str]:
    """What a person wants to know about a take, line by line, as plain text (a card's Details)."""
    timings = " · ".join(f"{k} {v:.2f} s" for k, v in take.timings.items() if k != "total")
    lines = [
        f"{take.kind.title()} {take.id} · {take.variant} · seed {take.seed} · {take.width}x{take.height} · "
        f"{take.frames} frames ({take.seconds:.1f} s at {take.fps} fps)"
        + (f" · sound {take.sample_rate / 1000:g} kHz" if take.audio and take.sample_rate else " · silent"),
        f"{timings} · total {take.timings.get('total', 0):.2f} s",
    ]
    if take.parent:
        lines.append(f"from draft {take.parent}")
    if take.typed_prompt:
        lines.append(f"enhanced from: {take.typed_prompt[:120]}")
    if take.settings.get("camera"):
        lines.append(f"camera move: {take.settings['camera']['name']}")
    camera_lora = (take.settings.get("camera") or {}).get("lora")
    own = [lora for lora in take.settings.get("loras") or [] if lora["name"] != camera_lora]  # the move said so
    if own:
        lines.append("LoRAs: " + " · ".join(lora_line(lora) for lora in own))
    snapped = {k: v for k, v in take.snapped.items() if isinstance(v, dict)}
    if snapped:
        lines.append("snapped: " + ", ".join(f"{k} {v['asked']} → {v['used']}" for k, v in snapped.items()))
    keyframes = take.settings.get("keyframes") or []
    if keyframes:
        lines.append(
            "keyframes: "
            + ", ".join(f"{k['name'] or 'image'} at {k['seconds']:g} s → frame {k['frame']}" for k in keyframes)
        )
    if take.settings.get("video") and not take.settings.get("extend"):
        video = take.settings["video"]
        lines.append(f"follows video {video['name'] or '(frames)'} at strength {video['strength']:g}")
    if take.settings.get("reference"):
        lines.append(f"IC-LoRA reference video {take.settings['reference']['name'] or '(frames)'}")
    if take.settings.get("extend"):
        extend = take.settings["extend"]
        lines.append(f"extended {'backward' if extend['backward'] else 'forward'} by {extend['seconds']:g} s")
    if take.settings.get("soundtrack"):
        track = take.settings["soundtrack"]
        cut = f", cut to its first {track['seconds']:g} s" if track["cut"] else ""
        lines.append(f"follows soundtrack {track['file']} from {track['start']:g} s{cut}")
    if take.settings.get("sound_for"):
        lines.append(f"a soundtrack made for the picture of {take.settings['sound_for']['source']}")
    if take.settings.get("retake"):
        retake = take.settings["retake"]
        lines.append(f"retook {retake['start']:g}-{retake['end']:g} s ({WHAT[retake['what']]}) of {retake['source']}")
    if take.worker:
        lines.append(f"rendered on {take.worker}")
    if take.approved:
        lines.append("✓ approved")
    if take.status != "ok":
        lines.append("⚠ files missing")
    return lines


def lora_line(lora: dict) -> str:
    """One LoRA of a take, as recorded: its name, weight and the start of its file's sha256."""
    return f"`{lora['name']}` × {lora['weight']:g} (sha256 {lora['sha256'][:12]}…)"


def table_row(take: Take) -> list:
    """One row of the Takes table: what a person scans for."""
    return [
        take.created[:19].replace("T", " "),
        take.kind + (" (files missing)" if take.status != "ok" else ""),
        take.variant,
        f"{take.width}x{take.height}, {take.frames} f",
        sound_cell(take),
        edit_cell(take),
        take.seed,
        round(take.timings.get("total", 0.0), 2),
        "✓" if take.approved else "",
        take.parent or "",
        take.prompt[:80],
        take.worker,
        take.id,
    ]


def sound_cell(take: Take) -> str:
    """The Takes table's sound column: where a take's sound came from, in words."""
    settings = take.settings
    if settings.get("soundtrack"):
        return f"follows {settings['soundtrack']['file']}" + (" (cut)" if settings["soundtrack"]["cut"] else "")
    if settings.get("sound_for"):
        return "added"
    return "made" if take.audio else "silent"


def edit_cell(take: Take) -> str:
    """The Takes table's edit column: what an edit of another take changed."""
    settings = take.settings
    if settings.get("retake"):
        retake = settings["retake"]
        return f"retake {retake['start']:g}-{retake['end']:g} s, {WHAT[retake['what']]}"
    if settings.get("extend"):
        extend = settings["extend"]
        return f"extend {'-' if extend['backward'] else '+'}{extend['seconds']:g} s"
    if settings.get("sound_for"):
        return "sound added"
    return ""
