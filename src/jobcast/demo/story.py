"""Text for the demo job "story": a word chain over a small hand-written corpus, seeded by the
prompt, so the same prompt always tells the same story (and its tests can count on it).

It stands in for what streams in real apps (an LLM's tokens, a build's log): words arrive one
at a time, and the page shows them as they come.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

_CORPUS = """
the queue was quiet until the first report arrived and the worker took it without a word .
every page of the report asked for numbers and the worker counted them one by one .
the browser waited with a progress bar that moved a little with every page .
a socket joined the room late and still saw every word that had been written .
the web process never ran the work itself ; it only listened and passed the news along .
when redis went away for a moment the worker kept its words and wrote them when it came back .
the story grew one word at a time and the reader watched it grow .
a second reader opened the page and the story caught up with him at once .
the bridge read the stream and the rooms heard what they were allowed to hear .
at the end the worker wrote the last word and the page showed the whole story .
nobody lost a word and nobody heard a word twice .
the report was long and the night was longer but the progress bar kept its promise .
"""


def _chain() -> dict[str, list[str]]:
    words = _CORPUS.split()
    follows: dict[str, list[str]] = {}
    for here, after in zip(words, words[1:], strict=False):
        follows.setdefault(here, []).append(after)
    return follows


_FOLLOWS = _chain()


def words(prompt: str, count: int) -> Iterator[str]:
    """``count`` words (punctuation counts as a word), each with its leading space."""
    rng = random.Random(prompt)
    word = rng.choice(["the", "a", "every", "when"])
    capital = True
    for i in range(count):
        text = word.capitalize() if capital else word
        yield text if i == 0 or word in ".;" else " " + text
        capital = word == "."
        word = rng.choice(_FOLLOWS.get(word) or ["the"])
