"""How matching cost grows: with the number of rules (it should not) and with text length.

Run: .venv/bin/python benchmarks/matcher.py
"""

from __future__ import annotations

import random
import string
import time
from pathlib import Path

from watcher.model import Change, Entry, Kind
from watcher.rules import RuleConfig, Ruleset
from watcher.sources import textblog

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_cda4f8f913c75e77.txt"


def random_word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 10)))


def per_entry_us(rules: Ruleset, changes: list[Change], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        for change in changes:
            rules.tag(change, "seed")
    return (time.perf_counter() - start) / (repeat * len(changes)) * 1e6


def main() -> None:
    rng = random.Random(7)
    entries = textblog.parse(SEED.read_text(encoding="utf-8")).entries
    changes = [Change(Kind.NEW, str(i), e) for i, e in enumerate(entries)]
    print("rules   keywords   µs per seed entry (avg 640 chars)")
    for count in (1, 10, 100, 1000, 10000):
        specs = [RuleConfig(name="Putin", keywords=["Putin", "Riyadh", "Saudi capital"])]
        specs += [
            RuleConfig(
                name=f"r{i}", keywords=[random_word(rng), f"{random_word(rng)} {random_word(rng)}"]
            )
            for i in range(count - 1)
        ]
        rules = Ruleset(specs, ["console"])
        print(f"{count:>5}   {1 + 2 * (count - 1):>8}   {per_entry_us(rules, changes, 200):8.1f}")
    rules = Ruleset([RuleConfig(name="Putin", keywords=["Putin"])], ["console"])
    print("\ntext length   µs per entry")
    for factor in (1, 4, 16):
        long = [
            Change(Kind.NEW, "k", Entry(e.title, "\n\n".join([e.body] * factor))) for e in entries
        ]
        print(f"{factor:>5}x        {per_entry_us(rules, long, 50):8.1f}")


if __name__ == "__main__":
    main()
