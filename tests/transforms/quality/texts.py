"""Documents the quality tests build on: a clean English page, and helpers to change it."""

from __future__ import annotations

# Ten distinct lines of ordinary prose, every line a sentence or two ending in a full stop.
CLEAN_LINES = (
    "The old lighthouse on the northern cliff was restored by volunteers last summer.",
    "Its lamp had been dark for almost forty years before the town raised enough money.",
    "Engineers replaced the rusted stairs and repainted the tower in red and white stripes.",
    "Visitors can now climb to the gallery and look across the bay toward the islands.",
    "A small museum at the base explains how keepers lived with their families.",
    "Letters, logbooks and a brass telescope are displayed in glass cases near the door.",
    "School groups arrive most weekday mornings, and guides answer questions in two languages.",
    "On clear evenings the beam is switched on for an hour as a reminder of its history.",
    "Local fishermen say the light still helps them find the harbour entrance in fog.",
    "The council hopes that the project will attract more tourists to the coast next year.",
)
CLEAN = "\n".join(CLEAN_LINES)


def words(count: int, prefix: str = "w") -> list[str]:
    """`count` distinct lower-case words of five characters: wa000, wa001, ..."""
    return [f"{prefix}{chr(97 + i // 1000)}{i % 1000:03d}" for i in range(count)]
