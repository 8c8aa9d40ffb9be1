import pytest

from advtext.text.corpora import load_corpus
from advtext.text.tokenizer import _TOKEN, PAD, UNK, Token, Vocabulary, capped_length, tokenize, word_set, words

TRICKY = ["ΟΔΟΣ.Α ΣΟΦΟΣ", "İstanbul's İİ x", "naïve café—ok, don't", "ﬁne ﬂat ß ǅ", "a__b_c 'd' e'", "x\u0301y ½ Ⅳ²",
          "", "   ", "!?", "ONE two THREE'S", "a\x1cb\x85c\u00a0d\u2028e\u3000f\u200bg\u180eh \t\n\x0bi",
          "ascii\x1cfile\x1dgroup\x1erecord\x1funit\x0b\x0c\r\x7f\x00end"]


def match_by_match(text: str) -> list[Token]:
    """The definition the tokenizer's fast paths must keep: each match of the token pattern, lower-cased alone."""
    return [Token(m.group().lower(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def test_spans_map_back_to_the_exact_words_of_real_reviews():
    imdb = load_corpus("imdb")["test"]
    for text in imdb["text"][:200]:
        for tok in tokenize(text):
            assert text[tok.start : tok.end].lower() == tok.text


@pytest.mark.parametrize("text", TRICKY)
def test_ascii_and_unicode_texts_tokenise_as_match_by_match(text):
    assert list(tokenize(text)) == match_by_match(text)
    assert words(text) == [t.text for t in match_by_match(text)]


def test_real_reviews_tokenise_as_match_by_match_with_any_slice():
    texts = load_corpus("imdb")["test"]["text"][:300] + load_corpus("rotten-tomatoes")["test"]["text"][:300]
    assert any(not t.isascii() for t in texts) and any(t.isascii() for t in texts)  # both paths are taken
    for text in texts:
        tokens, expected = tokenize(text), match_by_match(text)
        assert list(tokens) == expected and len(tokens) == len(expected) and words(text) == tokens.words
        middle = len(expected) // 2
        assert list(tokens[2:middle]) == expected[2:middle]
        assert not expected or tokens[middle] == expected[middle]


def test_a_texts_tokens_are_its_chunks_tokens_so_counts_and_word_sets_can_skip_the_tokenizer():
    """What ``capped_length`` and ``word_set`` rest on: tokens never span whitespace, every other character is in
    one, and ``str.split`` parts the text where the pattern's whitespace does."""
    texts = TRICKY + load_corpus("imdb")["test"]["text"][:300] + load_corpus("rotten-tomatoes")["test"]["text"][:300]
    for text in texts:
        assert words(text) == [w for chunk in text.split() for w in words(chunk)]
        for cap in (1, 3, 50, 100, 10**9):
            assert capped_length(text, cap) == min(len(words(text)), cap)
    assert word_set(texts) == {w for t in texts for w in words(t)}


def test_tokens_keep_internal_apostrophes_and_split_punctuation():
    toks = tokenize("The film's plot was GREAT, honestly.")
    assert [t.text for t in toks] == ["the", "film's", "plot", "was", "great", ",", "honestly", "."]


def test_vocabulary_is_deterministic_with_pad_and_unk_first():
    texts = ["b a a c", "c a", "d"]
    v = Vocabulary.build(texts, max_size=2)
    assert v.itos == [PAD, UNK, "a", "c"]
    assert v.encode(["a", "zzz", "c"]) == [2, 1, 3]
    assert Vocabulary.build(texts, min_freq=2).itos == [PAD, UNK, "a", "c"]
    assert Vocabulary.build(texts, max_len=1).itos == [PAD, UNK, "b", "c", "d"]


def test_vocabulary_save_load_round_trip(tmp_path):
    v = Vocabulary.build(["héllo wörld", "naïve café"])
    v.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").itos == v.itos
