from siamese_text.text.tokenizer import Tokenizer, TokenizerConfig, normalize
from siamese_text.text.vocab import PAD, UNK, Vocab, subword_ids


def test_tokens_lowercased_and_stop_words_kept():
    tok = Tokenizer()
    assert tok("I do NOT like it.") == ["i", "do", "not", "like", "it", "."]
    assert tok("Don't go") == ["do", "n't", "go"]


def test_empty_and_whitespace_texts_give_no_tokens():
    tok = Tokenizer()
    assert tok("") == []
    assert tok("   \t\n ") == []
    assert list(tok.pipe(["", "a b", "  "])) == [[], ["a", "b"], []]


def test_unicode_normalisation_and_corenlp_brackets():
    assert normalize("ＡＢＣ  ﬁne") == "abc fine"  # NFKC: full-width letters and ligature
    assert normalize("What  IS ( x ) ?") == "what is ( x ) ?"
    assert Tokenizer()("Café") == Tokenizer()("Cafe\u0301")  # composed == decomposed


def test_huge_text_is_cut_not_choked_on():
    tok = Tokenizer(TokenizerConfig(max_chars=1000))
    tokens = tok("word " * 200_000)
    assert 190 <= len(tokens) <= 200


def test_tokenizer_rejects_non_text():
    import pytest

    with pytest.raises(TypeError):
        Tokenizer()(None)


def test_vocab_order_is_frequency_then_alphabetical():
    v = Vocab.build([["b", "a", "c"], ["c", "b"], ["c"], ["d"]])
    assert v.itos == [PAD, UNK, "c", "b", "a", "d"]
    assert v.encode(["c", "zzz", "a"]) == [2, 1, 4]
    assert "c" in v and "zzz" not in v


def test_vocab_min_freq_and_max_size():
    lists = [["x", "y", "z"], ["x", "y"], ["x"]]
    assert Vocab.build(lists, min_freq=2).itos == [PAD, UNK, "x", "y"]
    assert Vocab.build(lists, max_size=3).itos == [PAD, UNK, "x"]


def test_vocab_round_trip_and_bad_files(tmp_path):
    import pytest

    from siamese_text.errors import SiameseTextError

    v = Vocab.build([["hello", "world", "hello"]])
    v.save(tmp_path / "vocab.txt")
    assert Vocab.load(tmp_path / "vocab.txt").itos == v.itos
    (tmp_path / "bad.txt").write_text("hello\n<pad>\n")
    with pytest.raises(SiameseTextError, match="bad.txt"):
        Vocab.load(tmp_path / "bad.txt")
    with pytest.raises(SiameseTextError, match="missing"):
        Vocab.load(tmp_path / "nope.txt")


def test_subwords_are_deterministic_and_shared_by_related_words():
    a = subword_ids("learning", 3, 5, 1 << 14)
    assert a == subword_ids("learning", 3, 5, 1 << 14)
    assert all(0 <= i < 1 << 14 for i in a)
    shared = set(a) & set(subword_ids("learnig", 3, 5, 1 << 14))  # a typo keeps most n-grams
    unrelated = set(a) & set(subword_ids("bread", 3, 5, 1 << 14))
    assert len(shared) > 5 and len(unrelated) <= 1
    assert len(subword_ids("x" * 10_000_000, 3, 5, 1 << 14)) < 200  # bounded for absurd tokens
