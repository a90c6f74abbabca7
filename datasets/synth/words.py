"""A small English vocabulary and a seeded sentence generator for the TTS speech corpus.

Sentences are narrative, past tense (like the audiobooks LibriSpeech is cut from) and made of
clauses joined by conjunctions.  Clauses are kept apart so the synthesizer can put a pause
between them.  Grammar, per clause:

    clause  := subject verb_phrase
    subject := noun_phrase | pronoun
    noun_phrase := determiner [adjective] noun [preposition determiner noun]
    verb_phrase := transitive object [adverb] [pp] | intransitive [adverb] [pp]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

DETERMINERS = "the a this that every some one each another".split()
PRONOUNS = "he she they we it nobody everyone".split()

ADJECTIVES = """
old young small large quiet loud bright dark warm cold green red blue yellow white black
heavy light gentle sudden narrow wide deep shallow tall short strange familiar empty crowded
distant nearby ancient modern patient eager tired happy sad careful brave honest clever simple
plain rough smooth silent busy lonely golden silver wooden broken hidden open closed wet dry
early late sharp soft bitter sweet proud humble curious calm wild thin thick round flat
pale grey brown clean dusty fresh frozen tender kind polite rude noble poor rich foolish wise
""".split()

NOUNS = """
man woman child boy girl friend stranger doctor teacher farmer sailor captain soldier king
queen servant merchant traveller neighbour student writer painter baker hunter shepherd
village town city river mountain valley forest field garden road bridge harbour island
house cottage castle church tower window door wall roof table chair lamp candle fire
letter book story song picture map coin ring key box basket bottle cup bread apple
horse dog cat bird wolf sheep cow fish rabbit mouse
morning evening night winter summer spring autumn storm wind rain snow cloud sun moon star
ship boat train carriage wagon market shop school kitchen cellar hill lake stone tree flower
coat hat shoe blanket pillow mirror clock bell drum violin rope ladder hammer knife sack
path gate fence well meadow orchard shore cliff cave desert marsh pond stream
uncle aunt brother sister mother father grandmother priest judge miller weaver guard
""".split()

TRANSITIVE_VERBS = """
saw found carried opened closed watched followed painted wrote read built lifted dropped
held pushed pulled cleaned carved mended sold bought borrowed brought took left remembered
forgot noticed heard answered visited crossed climbed guarded fed called met helped thanked
praised questioned chased caught counted measured collected gathered hid showed described
""".split()

INTRANSITIVE_VERBS = """
walked waited slept laughed smiled listened worked rested paused wandered hurried stayed
arrived returned departed sang spoke whispered shouted stood sat trembled vanished appeared
rose fell drifted turned danced prayed hesitated agreed refused struggled
""".split()

ADVERBS = """
quickly slowly quietly loudly softly gently carefully suddenly finally again soon
together alone often rarely happily sadly calmly eagerly silently nearly almost
""".split()

PREPOSITIONS = "in on near under over behind beside across through along toward into past".split()
CONJUNCTIONS = "and but so while because although until when before after".split()


def vocabulary() -> dict[str, list[str]]:
    """All word lists by part of speech."""
    return {
        "determiners": DETERMINERS, "pronouns": PRONOUNS, "adjectives": ADJECTIVES,
        "nouns": NOUNS, "transitive_verbs": TRANSITIVE_VERBS,
        "intransitive_verbs": INTRANSITIVE_VERBS, "adverbs": ADVERBS,
        "prepositions": PREPOSITIONS, "conjunctions": CONJUNCTIONS,
    }


def vocabulary_digest() -> str:
    """Stable hash of the vocabulary (part of the corpus version)."""
    text = "|".join(f"{k}:{' '.join(v)}" for k, v in sorted(vocabulary().items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Sentence:
    """A generated sentence as clauses; the first word of every clause after the first
    is its conjunction."""

    clauses: tuple[tuple[str, ...], ...]

    @property
    def words(self) -> list[str]:
        """All words, in order."""
        return [w for clause in self.clauses for w in clause]

    @property
    def clause_texts(self) -> list[str]:
        """Clause strings to hand to the synthesizer (first one capitalized)."""
        texts = [" ".join(c) for c in self.clauses]
        texts[0] = texts[0][:1].upper() + texts[0][1:]
        return texts

    @property
    def text(self) -> str:
        """Readable text with commas between clauses and a final full stop."""
        return ", ".join(self.clause_texts) + "."

    @property
    def transcript(self) -> str:
        """LibriSpeech-style transcript: upper case, no punctuation."""
        return " ".join(self.words).upper()


def _pick(rng: np.random.Generator, words: list[str]) -> str:
    return words[int(rng.integers(len(words)))]


def _noun_phrase(rng: np.random.Generator, allow_pp: bool = True) -> list[str]:
    phrase = [_pick(rng, DETERMINERS)]
    if rng.random() < 0.6:
        phrase.append(_pick(rng, ADJECTIVES))
    phrase.append(_pick(rng, NOUNS))
    if allow_pp and rng.random() < 0.3:
        phrase += [_pick(rng, PREPOSITIONS), *_noun_phrase(rng, allow_pp=False)]
    return phrase


def _prep_phrase(rng: np.random.Generator) -> list[str]:
    return [_pick(rng, PREPOSITIONS), *_noun_phrase(rng, allow_pp=False)]


def _clause(rng: np.random.Generator) -> list[str]:
    """One subject + verb phrase clause (4 to about 16 words)."""
    subject = [_pick(rng, PRONOUNS)] if rng.random() < 0.3 else _noun_phrase(rng)
    if rng.random() < 0.65:
        verb = [_pick(rng, TRANSITIVE_VERBS), *_noun_phrase(rng)]
    else:
        verb = [_pick(rng, INTRANSITIVE_VERBS)]
    if rng.random() < 0.4:
        verb.append(_pick(rng, ADVERBS))
    if rng.random() < 0.5 or len(subject) + len(verb) < 4:
        verb += _prep_phrase(rng)
    return subject + verb


def make_sentence(rng: np.random.Generator, min_words: int = 12,
                  max_words: int = 30) -> Sentence:
    """Random sentence of ``min_words``..``max_words`` words, drawn from ``rng``."""
    if not 6 <= min_words <= max_words:
        raise ValueError("need 6 <= min_words <= max_words")
    target = int(rng.integers(min_words, max_words + 1))
    for _ in range(1000):
        clauses = [_clause(rng)]
        total = len(clauses[0])
        while total < target:
            nxt = [_pick(rng, CONJUNCTIONS), *_clause(rng)]
            clauses.append(nxt)
            total += len(nxt)
        if min_words <= total <= max_words:
            return Sentence(tuple(tuple(c) for c in clauses))
    raise RuntimeError("could not build a sentence within the word limits")
