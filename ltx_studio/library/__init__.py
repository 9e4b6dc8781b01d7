"""library: the take store (SQLite index + files) and media (mp4, sound, images through PyAV and Pillow).
Imports core only."""
