"""/film and /film_export through gradio_client: a film against an uploaded song with an uploaded
reference, a shot rendered again, the export's two files; no request names a file on the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIRST_FRAMES
from test_sound_edits import beat

from ltx_studio.library import media


def test_a_film_against_an_uploaded_song_is_rendered_re_rendered_and_exported(served, client, tmp_path):
    from gradio_client import handle_file

    studio, _ = served
    song = beat(tmp_path / "song.wav", seconds=1.5)
    shots = [
        {"prompt": "a rocket on the pad", "seconds": 0.5, "reference": 1},
        {"prompt": "it lifts off", "seconds": 0.5, "begins": "continue"},
    ]
    mp4, film = client.predict(
        shots=shots, soundtrack=handle_file(str(song)), references=[handle_file(str(FIRST_FRAMES / "rocket.jpg"))],
        title="launch", width=96, height=64, api_name="/film",
    )  # fmt: skip
    assert film["title"] == "launch" and film["frames"] == 24 and film["soundtrack"] == "song.wav"
    assert media.probe_mp4(mp4)["frames"] == 24 and media.probe_mp4(mp4)["audio"]["sample_rate"] == 44100
    first = studio.take(film["shots"][0]["take"])
    assert first.settings["reference"] and any("subject" in lora["name"] for lora in first.settings["loras"])

    _, again = client.predict(film_id=film["id"], rerender=[1], stale=True, api_name="/film")
    assert again["version"] == 2 and all(
        s["take"] != t["take"] for s, t in zip(again["shots"], film["shots"], strict=True)
    )
    video, edit, record = client.predict(film_id=film["id"], version=1, api_name="/film_export")
    assert record["version"] == 1 and media.probe_mp4(video)["frames"] == 24
    assert Path(edit).read_text().count('"OTIO_SCHEMA": "Clip.2"') == 3  # two shots and the song


@pytest.mark.parametrize(
    "shots, words",
    [
        ([{"prompt": "a", "seconds": 0.5, "reference": "/etc/passwd"}], "reference must be 1 to 0"),
        ([{"prompt": "a", "seconds": 0.5, "loras": ["/etc/passwd"]}], "LoRA"),
        ([{"prompt": "a", "seconds": 0.5, "begins": "continue"}], "nothing before it"),
        ([], "a film needs shots"),
    ],
    ids=["a server path as reference", "a server path as LoRA", "a continue first shot", "no shots"],
)
def test_a_bad_film_is_one_line_and_names_no_server_file(client, shots, words):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as refused:
        client.predict(shots=shots, width=96, height=64, api_name="/film")
    assert words in str(refused.value) and "\n" not in str(refused.value)
