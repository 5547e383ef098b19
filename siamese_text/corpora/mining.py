"""Mining more training signal from labelled pairs: duplicate groups, triplets, extra pairs.

Quora-style data labels pairs, but duplicates are transitive: if a ~ b and b ~ c, then a ~ c;
and if a ~ b while b !~ c, then a !~ c. The duplicate groups (connected components of the
genuine pairs, `pairs.text_components(positive_only=True)`) make that explicit. Mine on the
TRAINING part only (after `split_pairs`), or mined pairs leak across the split.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from siamese_text.corpora.pairs import Pair, Triplet, text_components
from siamese_text.text.tokenizer import normalize


def duplicate_groups(pairs: Sequence[Pair]) -> list[list[str]]:
    """Groups of texts that mean the same, as the genuine pairs connect them.

    Returns:
        Every group of two or more texts (as first written in the data), in order of appearance.
    """
    component = text_components(pairs, positive_only=True)
    spelled: dict[str, str] = {}
    for p in pairs:
        for t in (p.a, p.b):
            spelled.setdefault(normalize(t), t)
    groups: dict[int, list[str]] = {}
    for key, gid in component.items():
        groups.setdefault(gid, []).append(spelled[key])
    return [g for _, g in sorted(groups.items()) if len(g) > 1]


def implied_pairs(pairs: Sequence[Pair], max_per_pair: int = 4, seed: int = 0) -> list[Pair]:
    """New pairs the labels imply but the data does not list.

    Positives: two texts of one duplicate group. Negatives: a member of a's group with a member
    of b's group, for each impostor pair (a, b). At most `max_per_pair` new pairs are drawn per
    group (positives) or per impostor pair (negatives); seeded and deterministic.
    """
    rng = random.Random(seed)
    component = text_components(pairs, positive_only=True)
    members: dict[int, list[str]] = {}
    seen = set()
    for p in pairs:
        ka, kb = normalize(p.a), normalize(p.b)
        seen.add((ka, kb))
        seen.add((kb, ka))
        for key, text in ((ka, p.a), (kb, p.b)):
            group = members.setdefault(component[key], [])
            if all(normalize(t) != key for t in group):
                group.append(text)
    out: list[Pair] = []

    def add(a: str, b: str, label: int) -> bool:
        ka, kb = normalize(a), normalize(b)
        if ka == kb or (ka, kb) in seen:
            return False
        seen.update({(ka, kb), (kb, ka)})
        out.append(Pair(a, b, label))
        return True

    def add_some(candidates: list[tuple[str, str]], label: int) -> None:
        """Up to max_per_pair new pairs from `candidates`, in a seeded random order."""
        rng.shuffle(candidates)
        made = 0
        for a, b in candidates:
            if made >= max_per_pair:
                break
            made += add(a, b, label)

    for gid in sorted(members):  # genuine: two members of one duplicate group
        group = members[gid]
        add_some([(group[i], group[j]) for i in range(len(group)) for j in range(i + 1, len(group))], 1)
    for p in pairs:  # impostor: a member of each side of a labelled impostor pair
        if p.label == 0:
            ga, gb = members[component[normalize(p.a)]], members[component[normalize(p.b)]]
            add_some([(x, y) for x in ga for y in gb], 0)
    return out


def mine_triplets(pairs: Sequence[Pair], seed: int = 0) -> list[Triplet]:
    """One triplet per text of every duplicate group: (anchor, another member, a negative).

    The negative is a hard one when the labels give one (an impostor partner of any member of
    the anchor's group), else a random text from another group.
    """
    rng = random.Random(seed)
    component = text_components(pairs, positive_only=True)
    hard: dict[int, list[str]] = {}
    for p in pairs:
        if p.label == 0:
            ga, gb = component[normalize(p.a)], component[normalize(p.b)]
            hard.setdefault(ga, []).append(p.b)
            hard.setdefault(gb, []).append(p.a)
    everything = sorted({t for p in pairs for t in (p.a, p.b)})
    triplets = []
    for group in duplicate_groups(pairs):
        gid = component[normalize(group[0])]
        for anchor in group:
            positive = rng.choice([t for t in group if t != anchor])
            if hard.get(gid):
                negative = rng.choice(hard[gid])
            else:
                negative = anchor
                for _ in range(20):  # a random text outside the group
                    negative = rng.choice(everything)
                    if component[normalize(negative)] != gid:
                        break
                if component[normalize(negative)] == gid:
                    continue  # every text is in this group: no negative exists
            triplets.append(Triplet(anchor, positive, negative))
    return triplets
