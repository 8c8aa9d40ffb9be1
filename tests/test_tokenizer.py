from advtext.text.corpora import load_corpus
from advtext.text.tokenizer import PAD, UNK, Vocabulary, tokenize


def test_spans_map_back_to_the_exact_words_of_real_reviews():
    imdb = load_corpus("imdb")["test"]
    for text in imdb["text"][:200]:
        for tok in tokenize(text):
            assert text[tok.start : tok.end].lower() == tok.text


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
