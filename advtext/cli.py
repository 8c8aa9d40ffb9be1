"""The advtext command line: train, eval, attack, stats (text) and image ... (MNIST).

Bad input ends with one line on stderr naming the problem and the fix, and exit code 2.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from advtext import strict_json
from advtext.defenses.text_hardening import HARDEN_METHODS, SCHEDULES
from advtext.distributed import note
from advtext.errors import AdvtextError
from advtext.text.attack import METHODS
from advtext.text.corpora import EMPTY_POLICIES
from advtext.text.models import ARCHITECTURES


def _positive(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be a positive integer, got {value}")
    return value


SIMILARITY_HELP = ("record each adversarial text's sentence similarity to its original (MiniLM; on long texts it "
                   "costs more than an LSTM attack: --no-similarity skips it)")
MIN_SIMILARITY_HELP = ("every adversarial text keeps at least this sentence similarity to its original (cosine "
                       "of MiniLM embeddings; TextFooler: 0.84, A2T: 0.9), checked on each candidate")
POLARITY_GUARD_HELP = ("no substitute of the opposite sentiment, nor of strong sentiment for a word without any "
                       "(VADER lexicon)")
PUNCTUATION_HELP = ("never change a punctuation mark, nor insert one or a bare number (default: on for greedy and "
                    "oracle, off for papernot, whose paper draws from the whole vocabulary)")
ATTACK_BATCH_HELP = ("texts attacked together, their records written together (default: 4096 for a gradient attack "
                     "on an LSTM or CNN on a GPU, 1024 stepped at once; 1024 for the query-only attack or --bf16 "
                     "there; else 128)")
ACTIVE_ROWS_HELP = ("gradient attacks: step at most this many texts of a batch at once, finished texts making room for "
                    "the next, so that a batch's slow tail does not leave a GPU idle (default: 1024 where --batch-size "
                    "defaults to 4096, else the whole batch); the records' changes stay the same")
TRAIN_SEED_HELP = "seed of the corpus split (recorded in the run), shuffling and initialisation"
DRAW_SEED_HELP = ("seed of this command's draws (texts, positions); the corpus is split with the run's own seed, "
                  "as in training")


def corpus_options(seed_help: str | None):
    """The options every command that reads a corpus shares (``--seed`` with ``seed_help``, when it has one)."""
    def decorate(f):
        options = [
            click.option("--corpus", default="imdb", show_default=True,
                         help="imdb, rotten-tomatoes, a .csv/.jsonl file, or hf:<dataset id>"),
            click.option("--text-column", default="text", show_default=True, help="text column of a CSV/JSONL corpus"),
            click.option("--label-column", default="label", show_default=True, help="label column (labels 0..k-1)"),
            click.option("--empty", type=click.Choice(EMPTY_POLICIES), default="skip", show_default=True,
                         help="rows with empty text: skip them (and say how many) or refuse the file"),
            click.option("--max-words", type=int, default=None, callback=_positive,
                         help="keep only texts of at most this many tokens (Papernot 2016: 100)"),
        ]
        if seed_help:
            options.append(click.option("--seed", type=int, default=0, show_default=True, help=seed_help))
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


def open_corpus(corpus: str, text_column: str, label_column: str, empty: str, seed: int, **_):
    """Load the corpus named by the shared corpus options; ``seed`` splits a corpus advtext splits itself."""
    from advtext.text.corpora import load_corpus

    return load_corpus(corpus, text_column=text_column, label_column=label_column, empty=empty, seed=seed)


def run_split_texts(clf, corpus: str, text_column: str, label_column: str, empty: str, split: str,
                    max_words: int | None) -> tuple:
    """One split of ``corpus`` as the run's own split seed cuts it (see ``advtext.text.heldout``)."""
    return split_texts(run_corpus(clf, corpus, text_column, label_column, empty), split, max_words, corpus)


def run_corpus(clf, corpus: str, text_column: str, label_column: str, empty: str):
    """``corpus`` with its splits as the run's own split seed cuts them."""
    from advtext.text.heldout import split_seed

    return open_corpus(corpus, text_column, label_column, empty, split_seed(clf.info))


def words_of_corpus(data):
    """The words of every text of every split (gathered on first use): substitutes outside them are counted in
    the quality figures."""
    from advtext.text.quality import CorpusWords

    return CorpusWords(t for split in data.values() for t in split["text"][:])


def warn_if_seen(run: Path | str, texts, split: str | None) -> None:
    """Say loudly when texts to be measured (not the train split, asked on purpose) were training texts of ``run``."""
    from advtext.text.heldout import seen_in_training

    seen = seen_in_training(run, texts) if split != "train" else 0
    if seen:
        note(f"warning: {seen} of {len(texts)} texts measured here were in the training or validation data "
             f"of {run}: their figures are of texts the model has seen, not held-out ones")


def check_corpus_classes(clf, labels, corpus: str) -> None:
    """A corpus split's labels fit the model (exactly its classes for a Hugging Face model)."""
    from advtext.text.classifier import check_labels_fit

    check_labels_fit(clf.num_classes, labels, corpus, exact=clf.config.architecture == "hf")


def draw(n: int, seed: int, keep=None) -> list[int]:
    """The order in which ``attack`` and ``robustness`` draw texts: a seeded shuffle of 0..n-1, filtered by
    ``keep`` (indices); a larger ``--n`` takes more of the same order."""
    import random

    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order if keep is None else [i for i in order if keep[i]]


def split_texts(dataset_dict, split: str, max_words: int | None, corpus: str,
                with_index: bool = False) -> tuple:
    """Texts and labels (and, with ``with_index``, their indices in the split) of one split,
    filtered to at most ``max_words`` tokens when asked."""
    from advtext.text.corpora import get_split
    from advtext.text.tokenizer import capped_length

    ds = get_split(dataset_dict, split)
    texts, labels = ds["text"][:], ds["label"][:]  # lists: a column read item by item is slow
    keep = list(range(len(texts)))
    if max_words:
        keep = [i for i in keep if capped_length(texts[i], max_words + 1) <= max_words]
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        if not texts:
            raise AdvtextError(f"no {split} text of {corpus} has at most {max_words} words: raise --max-words")
    return (texts, labels, keep) if with_index else (texts, labels)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="advtext")
@click.option("--deterministic", is_flag=True,
              help="deterministic algorithms only (torch.use_deterministic_algorithms; slower on a GPU): the same "
                   "command gives the same bits run after run")
@click.option("--tf32", is_flag=True,
              help="let a GPU multiply in TF32 (faster, about 3 fewer decimal digits; off by default)")
def cli(deterministic, tf32):
    """advtext: adversarial examples for text classifiers (Papernot et al. 2016) and their image roots."""
    from advtext.engine import set_numerics

    set_numerics(deterministic, tf32)


def model_options(f):
    """The options that shape a new text model (``train``, and ``harden`` without ``--from``)."""
    for option in reversed([
        click.option("--model", "architecture", type=click.Choice(ARCHITECTURES), default="lstm", show_default=True),
        click.option("--max-len", type=int, default=100, show_default=True, callback=_positive,
                     help="truncate every text to this many tokens"),
        click.option("--vocab-size", type=int, default=20000, show_default=True, callback=_positive),
        click.option("--min-freq", type=int, default=1, show_default=True, callback=_positive),
        click.option("--embed-dim", type=int, default=None, callback=_positive, help="default 128 (50 with --glove)"),
        click.option("--hidden-size", type=int, default=128, show_default=True, callback=_positive),
        click.option("--layers", type=int, default=1, show_default=True, callback=_positive),
        click.option("--bidirectional/--unidirectional", default=False, show_default=True),
        click.option("--pooling", type=click.Choice(["mean", "last"]), default="mean", show_default=True),
        click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True),
        click.option("--glove/--no-glove", default=False, show_default=True,
                     help="initialise the embeddings with GloVe 6B 50d (from `make setup`)"),
    ]):
        f = option(f)
    return f


def given(names) -> list[str]:
    """The options among ``names`` that the user typed on the command line (not defaults)."""
    ctx = click.get_current_context()
    return [p.opts[0] for p in ctx.command.params if p.name in names
            and ctx.get_parameter_source(p.name) == click.core.ParameterSource.COMMANDLINE]


def check_transformer_options(architecture: str) -> None:
    """MiniLM brings its own shape: options that shape an LSTM or CNN are refused rather than ignored."""
    unused = given(MODEL_SHAPE[2:]) if architecture == "minilm" else []
    if unused:
        raise AdvtextError(f"{', '.join(unused)} does not apply to --model minilm (a pre-trained transformer with "
                           "its own architecture and word pieces): drop it")


MODEL_SHAPE = ("architecture", "max_len", "vocab_size", "min_freq", "embed_dim", "hidden_size", "layers",
               "bidirectional", "pooling", "dropout", "glove")


DISCRETE_ONLY = ("schedule", "attack_method", "dictionary_spec", "protect_stopwords", "protect_punctuation",
                 "max_change", "min_words", "polarity_guard", "attack_steps")
EMBEDDING_ONLY = ("epsilon", "steps")


def fit_options(f):
    """The options of the training loop (``train`` and ``harden``)."""
    for option in reversed([
        click.option("--epochs", type=int, default=4, show_default=True, callback=_positive),
        click.option("--batch-size", type=int, default=64, show_default=True, callback=_positive),
        click.option("--lr", type=click.FloatRange(0, min_open=True), default=None,
                     help="learning rate (default 2e-3 for lstm and cnn, 5e-5 to fine-tune minilm or an hf: model)"),
        click.option("--patience", type=int, default=2, show_default=True, callback=_positive,
                     help="stop after this many epochs without a better validation accuracy"),
        click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N]"),
        click.option("--out", type=click.Path(path_type=Path), required=True, help="run directory to write"),
        click.option("--overwrite", is_flag=True, help="replace a model already in --out"),
    ]):
        f = option(f)
    return f


def training_splits(data, corpus: str, max_words: int | None, seed: int) -> tuple:
    """Train and validation texts and labels, and the number of classes (at least two)."""
    from advtext.text.corpora import check_labels, split_dataset

    train_texts, train_labels = split_texts(data, "train", max_words, corpus)
    if "validation" in data:
        val_texts, val_labels = split_texts(data, "validation", max_words, corpus)
    else:  # carve a seeded 10% of train for early stopping; test stays untouched
        parts = split_dataset(train_texts, train_labels, seed, fractions=(0.9, 0.1))
        train_texts, train_labels = parts["train"]["text"][:], parts["train"]["label"][:]
        val_texts, val_labels = parts["validation"]["text"][:], parts["validation"]["label"][:]
    if len(train_texts) < 2 or len(val_texts) < 1:
        raise AdvtextError(f"{corpus} is too small to train on ({len(train_texts)} train / {len(val_texts)} "
                           "validation texts): give at least a few dozen texts")
    num_classes = check_labels(train_labels, f"{corpus} train split")
    if num_classes < 2:
        raise AdvtextError(f"{corpus} train split has a single class: a classifier needs texts of at least two")
    return train_texts, train_labels, val_texts, val_labels, num_classes


def fit_and_save(clf, data, corpus: str, max_words: int | None, seed: int, split_seed: int, splits: tuple,
                 run_dir: Path, epochs, batch_size, lr, patience, identity: dict, step=None, epoch_start=None,
                 **info) -> None:
    """Train ``clf`` on the shared loop (resumable), report on the test split, save the run directory with
    the split seed and the digests of the texts it saw (see ``advtext.text.heldout``)."""
    from advtext.checkpoint import PROGRESS
    from advtext.distributed import barrier, world
    from advtext.report import print_classification_report
    from advtext.text.heldout import save_seen_texts
    from advtext.text.train import fit_text
    from advtext.training import TrainSettings, classification_report

    train_texts, train_labels, val_texts, val_labels, _ = splits
    if lr is None:
        lr = 5e-5 if clf.config.architecture in ("minilm", "hf") else 2e-3
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, seed=seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    history = fit_text(clf, train_texts, train_labels, val_texts, val_labels, settings,
                       log=lambda m: click.echo(m, err=True), step=step, progress_file=run_dir / PROGRESS,
                       identity={**identity, "train": settings.__dict__}, epoch_start=epoch_start)
    if world().main:  # under torchrun rank 0 alone writes the run, and the others wait for it
        report = {}
        if "test" in data:
            report = classification_report(clf, *split_texts(data, "test", max_words, corpus))
        save_seen_texts(run_dir, split_seed, train_texts, val_texts)
        clf.save(run_dir, corpus=corpus, max_words=max_words, seed=seed, split_seed=split_seed,
                 train=settings.__dict__, history=history, test=report, created=time.strftime("%Y-%m-%dT%H:%M:%S"),
                 **info)
        if report:
            print_classification_report(report, f"{clf.config.architecture} on {corpus} test split")
        click.echo(f"saved {run_dir}")
    barrier("rank 0 saved the run")


@cli.command()
@corpus_options(TRAIN_SEED_HELP)
@model_options
@fit_options
def train(corpus, text_column, label_column, empty, max_words, seed, architecture, max_len, vocab_size, min_freq,
          embed_dim, hidden_size, layers, bidirectional, pooling, dropout, glove, epochs, batch_size, lr, patience,
          device, out, overwrite):
    """Train a sentiment classifier and write it (weights, config, vocabulary, report) to --out."""
    from advtext.checkpoint import check_run_dir
    from advtext.engine import select_device
    from advtext.text.train import new_text_classifier

    check_transformer_options(architecture)
    run_dir = check_run_dir(out, overwrite)
    dev = select_device(device)
    data = open_corpus(corpus, text_column, label_column, empty, seed)
    splits = training_splits(data, corpus, max_words, seed)
    clf = new_text_classifier(splits[0], splits[4], dev, architecture, max_len, vocab_size, min_freq, embed_dim,
                              hidden_size, layers, bidirectional, pooling, dropout, glove, seed)
    note(f"training {architecture} on {corpus}: {len(splits[0])} train / {len(splits[2])} validation texts, "
         f"vocabulary {len(clf.vocab)}, max_len {max_len}, device {dev}")
    identity = {"corpus": corpus, "model": clf.config.to_dict(), "max_len": max_len, "max_words": max_words,
                "vocab": len(clf.vocab), "glove": glove}
    fit_and_save(clf, data, corpus, max_words, seed, seed, splits, run_dir, epochs, batch_size, lr, patience, identity)


@cli.command()
@corpus_options(TRAIN_SEED_HELP + "; --from a run: its split seed splits the corpus")
@click.option("--from", "from_run", type=click.Path(path_type=Path), default=None,
              help="start from this trained run (its model, vocabulary and max_len) instead of a new model")
@click.option("--method", "harden_method", type=click.Choice(HARDEN_METHODS), default="discrete", show_default=True,
              help="discrete: word substitutions by the batched attack; embedding: Miyato/FreeLB perturbation of "
                   "the embedded sequence; both")
@click.option("--alpha", type=float, default=0.5, show_default=True,
              help="weight of the clean loss: alpha * CE(clean) + (1 - alpha) * CE(adversarial)")
@click.option("--epsilon", type=float, default=0.5, show_default=True,
              help="embedding: L2 radius of the perturbation of the whole embedded sequence")
@click.option("--steps", type=int, default=1, show_default=True, callback=_positive,
              help="embedding: ascent steps (1: Miyato et al. 2017; more: FreeLB)")
@click.option("--schedule", type=click.Choice(SCHEDULES), default="online", show_default=True,
              help="discrete: craft per batch on the current weights (online), or per epoch on the weights it "
                   "starts with (offline, TextAttack's augmentation)")
@click.option("--attack", "attack_method", type=click.Choice(METHODS), default="greedy", show_default=True,
              help="discrete: the attack that crafts the training examples")
@click.option("--dictionary", "dictionary_spec", default="wordnet", show_default=True,
              help="discrete: substitutes, chosen to keep the label: wordnet or glove-safe:T (GloVe neighbours "
                   "minus WordNet antonyms)")
@click.option("--protect-stopwords/--change-stopwords", default=True, show_default=True)
@click.option("--protect-punctuation/--allow-punctuation", default=None, help="discrete: " + PUNCTUATION_HELP)
@click.option("--max-change", type=click.FloatRange(0, 1, min_open=True), default=0.2, show_default=True,
              help="discrete: change at most this fraction of each text's words")
@click.option("--min-words", type=click.IntRange(min=0), default=0, show_default=True,
              help="discrete: but let at least this many words change (a floor over --max-change)")
@click.option("--polarity-guard", is_flag=True, help="discrete: " + POLARITY_GUARD_HELP)
@click.option("--attack-steps", type=int, default=2, show_default=True, callback=_positive,
              help="discrete: gradient rounds per batch (the first comes free from the clean pass)")
@model_options
@fit_options
def harden(corpus, text_column, label_column, empty, max_words, seed, from_run, harden_method, alpha, epsilon, steps,
           schedule, attack_method, dictionary_spec, protect_stopwords, protect_punctuation, max_change, min_words,
           polarity_guard, attack_steps, architecture, max_len, vocab_size, min_freq, embed_dim, hidden_size, layers,
           bidirectional, pooling, dropout, glove, epochs, batch_size, lr, patience, device, out, overwrite):
    """Adversarial training: train (or fine-tune --from a run) against word substitutions or embedding noise."""
    from advtext.checkpoint import check_run_dir
    from advtext.defenses.text_hardening import AdversarialTrainingStep, HardenSettings
    from advtext.engine import select_device
    from advtext.text import heldout
    from advtext.text.classifier import TextClassifier
    from advtext.text.dictionary import build_dictionary
    from advtext.text.train import new_text_classifier

    settings = HardenSettings(method=harden_method, alpha=alpha, epsilon=epsilon, steps=steps, schedule=schedule,
                              attack=attack_method, dictionary=dictionary_spec, protect_stopwords=protect_stopwords,
                              protect_punctuation=protect_punctuation, max_change=max_change, min_words=min_words,
                              polarity_guard=polarity_guard, attack_steps=attack_steps)
    shaping = given(MODEL_SHAPE) if from_run is not None else []
    if shaping:
        raise AdvtextError(f"{', '.join(shaping)} cannot change a model taken --from {from_run}: drop "
                           f"{'them' if len(shaping) > 1 else 'it'}, or harden a new model without --from")
    unused = given(DISCRETE_ONLY if not settings.discrete else EMBEDDING_ONLY if not settings.embedding else ())
    if unused:
        raise AdvtextError(f"{', '.join(unused)} has no effect with --method {harden_method}: drop it, or choose a "
                           "method that uses it")
    if alpha == 1:
        raise AdvtextError("--alpha 1 gives the adversarial loss no weight: use `advtext train`, or an alpha below 1")
    run_dir = check_run_dir(out, overwrite)
    dev = select_device(device)
    split_seed = seed
    if from_run is not None:
        clf = TextClassifier.load(from_run, dev)
        if not str(from_run).startswith("hf:"):  # the texts it was trained on stay its training texts
            split_seed = heldout.split_seed(clf.info)
        architecture = clf.config.architecture
    data = open_corpus(corpus, text_column, label_column, empty, split_seed)
    splits = training_splits(data, corpus, max_words, split_seed)
    if from_run is None:
        clf = new_text_classifier(splits[0], splits[4], dev, architecture, max_len, vocab_size, min_freq, embed_dim,
                                  hidden_size, layers, bidirectional, pooling, dropout, glove, seed)
    elif splits[4] > clf.num_classes or (architecture == "hf" and splits[4] != clf.num_classes):
        raise AdvtextError(f"{corpus} has {splits[4]} classes but {from_run} was trained on {clf.num_classes}: "
                           "harden it on a corpus with the same classes")
    # a word-piece model's vocabulary grows to the words it will read (and their synonyms)
    clf.cover([*splits[0], *splits[2]], [dictionary_spec] if settings.discrete else [])
    dictionary = (build_dictionary(dictionary_spec, clf.vocab, protect_stopwords, polarity_guard=polarity_guard,
                                   protect_punctuation=settings.protect_punctuation)
                  if settings.discrete else None)
    step = AdversarialTrainingStep(clf.model, settings, dictionary)
    hardening = {**settings.to_dict(), "from": str(from_run) if from_run else None}
    note(f"hardening {clf.config.architecture} on {corpus} ({harden_method}"
         + (f", {schedule} {attack_method} attack, dictionary {dictionary_spec}" if settings.discrete else "")
         + f"): {len(splits[0])} train / {len(splits[2])} validation texts, device {dev}")
    identity = {"corpus": corpus, "model": clf.config.to_dict(), "max_len": clf.max_len, "max_words": max_words,
                "vocab": len(clf.vocab), "hardening": hardening}
    fit_and_save(clf, data, corpus, max_words, seed, split_seed, splits, run_dir, epochs, batch_size, lr, patience,
                 identity, step=step, epoch_start=step.epoch_start, hardening=hardening)


@cli.command()
@corpus_options(TRAIN_SEED_HELP)
@click.option("--temperature", type=float, default=100.0, show_default=True,
              help="softmax temperature of teacher and student in training (the student is deployed at 1)")
@click.option("--teacher", "teacher_run", type=click.Path(path_type=Path), default=None,
              help="a teacher already trained at this temperature (default: train one into OUT/teacher)")
@model_options
@fit_options
def distill(corpus, text_column, label_column, empty, max_words, seed, temperature, teacher_run, architecture, max_len,
            vocab_size, min_freq, embed_dim, hidden_size, layers, bidirectional, pooling, dropout, glove, epochs,
            batch_size, lr, patience, device, out, overwrite):
    """Defensive distillation (Papernot et al. 2016) of an LSTM or CNN: a teacher trained at temperature T, a
    student of the same architecture and vocabulary trained on its soft labels at T, saved to predict at T = 1."""
    from advtext.checkpoint import check_run_dir
    from advtext.defenses.distillation import DistillationStep, TemperatureStep, check_temperature
    from advtext.engine import select_device
    from advtext.text.classifier import TextClassifier
    from advtext.text.models import ModelConfig, build_model
    from advtext.text.train import new_text_classifier
    from advtext.training import seed_everything

    check_temperature(temperature)
    if architecture == "minilm":
        raise AdvtextError("distill trains lstm and cnn models: give --model lstm or cnn")
    if teacher_run is not None and given(MODEL_SHAPE):
        raise AdvtextError(f"{', '.join(given(MODEL_SHAPE))} cannot change the teacher's model: the student copies "
                           "its architecture; drop the option")
    run_dir = check_run_dir(out, overwrite)
    dev = select_device(device)
    data = open_corpus(corpus, text_column, label_column, empty, seed)
    splits = training_splits(data, corpus, max_words, seed)
    identity = {"corpus": corpus, "max_words": max_words}
    if teacher_run is None:
        teacher_run = run_dir / "teacher"
        if (teacher_run / "model.safetensors").exists() and not overwrite:
            if given(MODEL_SHAPE):
                raise AdvtextError(f"{teacher_run} is reused, and the student copies its model: drop "
                                   f"{', '.join(given(MODEL_SHAPE))}, or pass --overwrite to train a new teacher")
            note(f"reusing the teacher in {teacher_run}")
        else:
            teacher = new_text_classifier(splits[0], splits[4], dev, architecture, max_len, vocab_size, min_freq,
                                          embed_dim, hidden_size, layers, bidirectional, pooling, dropout, glove, seed)
            note(f"training the teacher at temperature {temperature}")
            role = {"role": "teacher", "temperature": temperature}
            fit_and_save(teacher, data, corpus, max_words, seed, seed, splits, teacher_run, epochs, batch_size, lr,
                         patience, {**identity, "model": teacher.config.to_dict(), "distillation": role},
                         step=TemperatureStep(temperature), distillation=role)
    teacher = TextClassifier.load(teacher_run, dev)
    if teacher.config.architecture not in ("lstm", "cnn"):
        raise AdvtextError(f"{teacher_run} holds a {teacher.config.architecture} model: distill trains lstm and cnn "
                           "models, give a teacher of those")
    found = teacher.info.get("distillation", {}).get("temperature")
    if found != temperature:
        raise AdvtextError(f"{teacher_run} was trained at temperature {found}, not {temperature}: give a teacher of "
                           "this temperature, or drop --teacher to train one")
    seed_everything(seed)
    student = TextClassifier(build_model(ModelConfig.from_dict(teacher.config.to_dict())), teacher.vocab,
                             teacher.max_len, dev)
    student.model.to(dev)
    role = {"role": "student", "temperature": temperature, "deployed_temperature": 1, "teacher": str(teacher_run)}
    note(f"distilling into a student at temperature {temperature}")
    fit_and_save(student, data, corpus, max_words, seed, seed, splits, run_dir, epochs, batch_size, lr, patience,
                 {**identity, "model": student.config.to_dict(), "distillation": role},
                 step=DistillationStep(teacher.model, temperature), distillation=role)


EVAL_SPLIT_HELP = ("train, validation, test or all; default: test for a built-in corpus, all for your own file "
                   "(a file you evaluate on is held out as a whole)")


def default_split(split: str | None, corpus: str) -> str:
    """``--split`` as given, else ``all`` for a user's file (said on stderr) and ``test`` for a built-in corpus."""
    from advtext.text.corpora import is_record_file

    if split is not None:
        return split
    if is_record_file(corpus):
        note(f"note: measuring on all texts of {corpus} (--split all; pass --split test for its 10% test part)")
        return "all"
    return "test"


@cli.command("eval")
@click.argument("run", type=click.Path(path_type=Path))
@corpus_options(None)
@click.option("--split", default=None, help=EVAL_SPLIT_HELP)
@click.option("--input", "input_file", type=click.Path(path_type=Path), default=None,
              help="evaluate on your own labelled file (.csv/.jsonl with --text-column and --label-column), whole")
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def eval_cmd(run, corpus, text_column, label_column, empty, max_words, split, input_file, device, as_json):
    """Re-evaluate a saved text model on a corpus split or on a labelled file."""
    from advtext.report import print_classification_report
    from advtext.text.classifier import TextClassifier
    from advtext.training import classification_report

    clf = TextClassifier.load(run, device)
    if input_file is not None:
        corpus, split = str(input_file), "all"
    split = default_split(split, corpus)
    texts, labels = run_split_texts(clf, corpus, text_column, label_column, empty, split, max_words)
    warn_if_seen(run, texts, split)
    check_corpus_classes(clf, labels, corpus)
    report = classification_report(clf, texts, labels)
    if as_json:
        click.echo(strict_json.dumps(report, indent=1))
    else:
        print_classification_report(report, f"{run} on {corpus} {split}" + (f" (<= {max_words} words)"
                                                                             if max_words else ""))


@cli.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="the folder to write")
@click.option("--overwrite", is_flag=True, help="replace a model already in --out")
def export(run, out, overwrite):
    """Write a transformer run (minilm, or a fine-tuned or hardened hf: model) as a standard Hugging Face
    sequence-classification folder (config, weights, tokenizer), for other tools and for `hf:OUT`."""
    from advtext.text.classifier import TextClassifier
    from advtext.text.transformer import export_hf

    clf = TextClassifier.load(run, "cpu")
    if not hasattr(clf.model, "hf"):
        raise AdvtextError(f"{run} holds an {clf.config.architecture} model, which is not a Hugging Face model: export "
                           "writes minilm and hf: runs")
    if out.exists() and not out.is_dir():
        raise AdvtextError(f"{out} exists and is not a directory: choose another --out")
    if (out / "config.json").exists() and not overwrite:
        raise AdvtextError(f"{out} already holds a model: choose another --out or pass --overwrite")
    export_hf(clf.model, out)
    click.echo(f"wrote {out} (use it as hf:{out})", err=True)


@cli.command()
@click.argument("run", type=click.Path(path_type=Path))
@corpus_options(DRAW_SEED_HELP)
@click.option("--split", default="test", show_default=True)
@click.option("--input", "input_file", type=click.Path(path_type=Path), default=None,
              help="attack your own texts: one per line (.txt), or a .csv/.jsonl with --text-column "
                   "(and --label-column; without it the model's prediction is the label)")
@click.option("--limit", "--n", "limit", type=int, default=None, callback=_positive,
              help="attack at most this many texts")
@click.option("--only-correct", is_flag=True, help="take only texts the model classifies correctly (the paper's set)")
@click.option("--method", type=click.Choice(METHODS), default="papernot", show_default=True,
              help="papernot: faithful (random position, sign-matching word); greedy: saliency + HotFlip, verified")
@click.option("--goal", "goal_spec", default="untargeted", show_default=True,
              help="untargeted | targeted:T | confidence:P | source-target:S:T")
@click.option("--dictionary", "dictionary_spec", default="vocab", show_default=True,
              help="vocab (the paper's D) | wordnet | glove:T (cosine >= T)")
@click.option("--max-change", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="change at most this fraction of each text's words, rounded down (default: no limit, as in "
                   "the paper)")
@click.option("--min-words", type=click.IntRange(min=0), default=0, show_default=True,
              help="but let at least this many words change (a floor over --max-change, like A2T's)")
@click.option("--protect-stopwords", is_flag=True, help="never change or insert a stopword")
@click.option("--protect-punctuation/--allow-punctuation", default=None, help=PUNCTUATION_HELP)
@click.option("--pos", "pos_agreement", is_flag=True, help="substitutes share a WordNet part of speech")
@click.option("--polarity-guard", is_flag=True, help=POLARITY_GUARD_HELP)
@click.option("--min-similarity", type=float, default=None, help=MIN_SIMILARITY_HELP)
@click.option("--similarity/--no-similarity", "measure_similarity", default=True, show_default=True,
              help=SIMILARITY_HELP)
@click.option("--top-positions", type=int, default=6, show_default=True, callback=_positive,
              help="greedy: positions scored per step")
@click.option("--words-per-position", type=int, default=1, show_default=True, callback=_positive,
              help="greedy: first-order best substitutes kept per position")
@click.option("--verify", type=int, default=6, show_default=True, callback=_positive,
              help="greedy: candidates checked with a real forward pass per step")
@click.option("--objective", type=click.Choice(["log-probs", "logits"]), default="log-probs", show_default=True,
              help="what the gradient attack climbs: the goal's log-probability, or the margin on the logits (Carlini "
                   "& Wagner's; it sees through a distilled model's saturated softmax)")
@click.option("--sign-search", type=click.Choice(["numba", "triton", "blocked"]), default=None,
              help="how papernot's search over the dictionary runs: numba (CPU), triton (CUDA GPU), blocked (tensor "
                   "operations, any device); every one gives the same records [default: numba on the CPU, triton on "
                   "a GPU]")
@click.option("--bf16", is_flag=True,
              help="run the attack's forward and backward passes after the first in bfloat16 autocast (faster on "
                   "recent GPUs); the texts as given, the embeddings and the searches stay float32 (and an LSTM's "
                   "recurrence on a GPU: cuDNN has none in bfloat16), and every adversarial text is classified again "
                   "in float32, whose verdict alone counts")
@click.option("--threat", "threat_spec", default="white-box", show_default=True,
              help="what the attacker knows: white-box (the target's gradients); oracle (only its probabilities: "
                   "word importance by deletion, every candidate queried, greedy's query-only form); transfer:RUN "
                   "(craft on a substitute run you own, measure on the target); samples:N (a substitute LSTM "
                   "trained on N texts of the training split, labelled by the target)")
@click.option("--batch-size", type=int, default=None, callback=_positive, help=ATTACK_BATCH_HELP)
@click.option("--active-rows", type=int, default=None, callback=_positive, help=ACTIVE_ROWS_HELP)
@click.option("--device", default="auto", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="JSONL records (resumed if it exists)")
def attack(run, corpus, text_column, label_column, empty, max_words, seed, split, input_file, limit, only_correct,
           method, goal_spec, dictionary_spec, max_change, min_words, protect_stopwords, protect_punctuation,
           pos_agreement, polarity_guard, min_similarity, measure_similarity, top_positions, words_per_position, verify,
           objective, sign_search, bf16, threat_spec, batch_size, active_rows, device, out):
    """Attack a text model with the sequence attack; write one record per text; print statistics."""

    from advtext.api import attack_dictionary, attack_settings
    from advtext.distributed import alone, barrier, world
    from advtext.goals import parse_goal
    from advtext.metrics import attack_summary
    from advtext.report import print_attack_summary, print_examples
    from advtext.text.attack import refuse_unused_sign_search
    from advtext.text.classifier import TextClassifier
    from advtext.text.dictionary import parse_dictionary_spec
    from advtext.text.heldout import split_seed, texts_fingerprint
    from advtext.text.quality import CorpusWords
    from advtext.text.query_attack import whole_vocabulary_refused
    from advtext.text.run_attack import attack_layout, attack_texts, check_out_file, write_derived_records
    from advtext.text.sign_search import check_method as check_sign_search_device
    from advtext.text.similarity import check_min_similarity
    from advtext.text.transfer import (
        check_substitute,
        parse_threat,
        substitute_file,
        substitute_from_samples,
        substitute_run_dir,
        transfer_records,
    )

    check_min_similarity(min_similarity, measure_similarity)
    threat, substitute_run = parse_threat(threat_spec)
    if threat == "samples" and input_file is not None:
        raise AdvtextError("--threat samples draws the attacker's own texts from the training split of --corpus: "
                           "give --corpus, not --input")
    if threat == "oracle":
        if given(["method"]) and method != "greedy":
            raise AdvtextError(f"--method {method} reads the target's gradients, which --threat oracle does not give: "
                               "use --method greedy, whose query-only form (importance by deletion, every candidate "
                               "queried) runs under it")
        if parse_dictionary_spec(dictionary_spec)[0] == "vocab":
            raise whole_vocabulary_refused(dictionary_spec)
        greedy_only = given(["top_positions", "words_per_position", "verify", "objective"])
        if greedy_only:
            raise AdvtextError(f"{', '.join(greedy_only)} steers the gradient search, which --threat oracle does not "
                               "run: drop it")
        if method != "greedy":
            note("note: --threat oracle runs greedy's query-only form (word importance by deletion, every "
                 "dictionary candidate queried)")
        method = "greedy"
    if min_words and max_change is None:
        raise AdvtextError("--min-words is a floor under --max-change, and no --max-change was given (every word may "
                           "change): drop --min-words or add --max-change")
    clf = TextClassifier.load(run, device)
    if sign_search is not None:
        check_sign_search_device(sign_search, clf.device)
    goal = parse_goal(goal_spec, clf.num_classes)
    attacker = clf  # the model whose gradients or probabilities the attack reads
    if threat == "transfer":
        attacker = TextClassifier.load(substitute_run, device)
        check_substitute(clf, attacker, substitute_run)
    batch_size, active_rows = attack_layout(attacker, batch_size, active_rows, threat != "oracle" and not bf16)
    if input_file is not None:
        texts, labels = read_user_texts(input_file, text_column, label_column, empty, clf)
        keys = list(range(len(texts)))
        source = {"input": str(input_file.resolve()), "split": None}
        corpus_words = CorpusWords(texts)
    else:
        data = run_corpus(clf, corpus, text_column, label_column, empty)
        texts, labels, keys = split_texts(data, split, max_words, corpus, with_index=True)
        corpus_words = words_of_corpus(data)
        source = {"corpus": corpus, "split": split, "max_words": max_words, "split_seed": split_seed(clf.info)}
    if input_file is None:  # a file's labels may be the model's own predictions
        check_corpus_classes(clf, labels, corpus)
    correct = None
    if only_correct:
        correct = [p == y for p, y in zip(clf.predict_proba(texts).argmax(-1).tolist(), labels)]
    order = draw(len(texts), seed, correct)
    source["texts_sha256"] = texts_fingerprint([texts[i] for i in order], [labels[i] for i in order])
    order = order[:limit]
    warn_if_seen(run, [texts[i] for i in order], source["split"])
    settings, prepared = attack_settings(
        method=method, dictionary=dictionary_spec, max_change=max_change, min_words=min_words,
        protect_stopwords=protect_stopwords, pos=pos_agreement, polarity_guard=polarity_guard,
        min_similarity=min_similarity, measure_similarity=measure_similarity, top_positions=top_positions,
        words_per_position=words_per_position, verify=verify, seed=seed, query_only=threat == "oracle",
        objective=objective, protect_punctuation=protect_punctuation, sign_search=sign_search, bf16=bf16,
        active_rows=active_rows)
    config = {"run": str(Path(run).resolve()), "weights_sha256": clf.fingerprint, **source, "n": limit,
              "only_correct": only_correct, "goal": goal_spec, **prepared,
              **({"threat": threat_spec} if threat != "white-box" else {})}
    if threat == "samples":  # the attacker's own texts: the training split, labelled by the target
        check_out_file(out, config)  # before the target labels a single text
        for turn in ("main", "others"):  # under torchrun rank 0 trains the substitute, the others load it
            if (turn == "main") == world().main:
                with alone():
                        attacker = substitute_from_samples(clf, split_texts(data, "train", None, corpus)[0],
                                                       substitute_run, seed, substitute_run_dir(out),
                                                       lambda m: click.echo(m, err=True))
            barrier("rank 0 trained the substitute")
        substitute_run = str(substitute_run_dir(out))
    dictionary = attack_dictionary(attacker, [texts[i] for i in order], prepared)
    refuse_unused_sign_search(settings, dictionary)
    chosen = ([texts[i] for i in order], [labels[i] for i in order], [keys[i] for i in order])
    if threat in ("transfer", "samples"):
        # a samples substitute is determined by the target, the draw and the seed, which the config holds
        measured = {**config, **({"substitute_weights_sha256": attacker.fingerprint} if threat == "transfer" else {})}
        check_out_file(out, measured)
        crafted_on = {**config, "run": str(Path(substitute_run).resolve()), "weights_sha256": attacker.fingerprint}
        del crafted_on["threat"]
        crafted = attack_texts(attacker, *chosen, goal, dictionary, settings, substitute_file(out), crafted_on,
                               batch_size, corpus_words)
        if not world().main:  # rank 0 measures the crafted texts on the target
            return
        records = transfer_records(clf, goal, crafted)
        write_derived_records(out, measured, records)
        note(f"crafted on {substitute_run} (records: {substitute_file(out)}), measured on {run}")
    else:
        records = attack_texts(clf, *chosen, goal, dictionary, settings, out, config, batch_size, corpus_words)
        if not world().main:  # rank 0 merged the records and speaks for all
            return
    threat_said = "" if threat == "white-box" else f", threat {threat_spec}"
    print_attack_summary(attack_summary(records), f"{method} attack on {len(records)} texts ({goal_spec}, "
                                                   f"dictionary {dictionary_spec}{threat_said})")
    print_examples(records, 2)
    click.echo(f"records: {out}")


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@corpus_options(DRAW_SEED_HELP + " (the first run's, when several)")
@click.option("--split", default=None, help=EVAL_SPLIT_HELP)
@click.option("--limit", "--n", "limit", type=int, default=300, show_default=True, callback=_positive,
              help="texts drawn (seeded) from the split; every run is measured on the same ones")
@click.option("--method", "methods", default="greedy,papernot", show_default=True,
              help="attack methods, comma-separated, each run with each dictionary: greedy, papernot (white-box), "
                   "oracle (greedy's query-only form: only the model's probabilities)")
@click.option("--dictionary", "dictionaries", default="wordnet", show_default=True,
              help="dictionaries, comma-separated: vocab, wordnet, glove:T, glove-safe:T")
@click.option("--protect-stopwords/--change-stopwords", default=True, show_default=True)
@click.option("--protect-punctuation/--allow-punctuation", default=None, help=PUNCTUATION_HELP)
@click.option("--max-change", type=click.FloatRange(0, 1, min_open=True), default=0.2, show_default=True,
              help="change at most this fraction of each text's words, rounded down")
@click.option("--min-words", type=click.IntRange(min=0), default=0, show_default=True,
              help="but let at least this many words change (a floor over --max-change)")
@click.option("--polarity-guard", is_flag=True, help=POLARITY_GUARD_HELP)
@click.option("--min-similarity", type=float, default=None, help=MIN_SIMILARITY_HELP)
@click.option("--similarity/--no-similarity", "measure_similarity", default=True, show_default=True,
              help=SIMILARITY_HELP)
@click.option("--transfer-from", type=click.Path(path_type=Path), default=None,
              help="also measure every run on the adversarial texts crafted against this run (e.g. the baseline)")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="folder for the attack records (kept, and resumed by the same command); default: discarded")
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
@click.option("--plots", type=click.Path(path_type=Path), default=None,
              help="write accuracy-against-word-budget PNGs (one per attack, one curve per run) here")
@click.option("--batch-size", type=int, default=None, callback=_positive, help=ATTACK_BATCH_HELP)
@click.option("--device", default="auto", show_default=True)
def robustness(runs, corpus, text_column, label_column, empty, max_words, seed, split, limit, methods, dictionaries,
               protect_stopwords, protect_punctuation, max_change, min_words, polarity_guard, min_similarity,
               measure_similarity, transfer_from, out, as_json, plots, batch_size, device):
    """Side by side: clean accuracy and accuracy under each attack (and under transfer) of one or more runs."""
    import tempfile

    from advtext.defenses.robustness import check_same_classes, measure_robustness, parse_attacks
    from advtext.distributed import world
    from advtext.report import print_robustness, write_robustness_plots
    from advtext.text.classifier import TextClassifier
    from advtext.text.heldout import split_seed, texts_fingerprint
    from advtext.text.similarity import check_min_similarity

    check_min_similarity(min_similarity, measure_similarity)
    if out is None and world().distributed:
        raise AdvtextError("under torchrun give --out: the ranks share their records through that folder (on a "
                           "file system every node sees)")
    specs = parse_attacks(methods, dictionaries, protect_stopwords, max_change, min_words, polarity_guard,
                          min_similarity, measure_similarity, protect_punctuation)
    loaded = [(str(run), TextClassifier.load(run, device)) for run in runs]
    source_run = (str(transfer_from), TextClassifier.load(transfer_from, device)) if transfer_from else None
    check_same_classes([*loaded, *([source_run] if source_run else [])], [])
    split = default_split(split, corpus)
    first = loaded[0][1]
    data = run_corpus(first, corpus, text_column, label_column, empty)
    texts, labels, keys = split_texts(data, split, max_words, corpus, with_index=True)
    order = draw(len(texts), seed)
    source = {"corpus": corpus, "split": split, "max_words": max_words, "split_seed": split_seed(first.info),
              "texts_sha256": texts_fingerprint([texts[i] for i in order], [labels[i] for i in order])}
    for _, clf in loaded:  # the split's classes, not only those of the texts drawn
        check_corpus_classes(clf, labels, corpus)
    order = order[:limit]
    texts, labels, keys = [texts[i] for i in order], [labels[i] for i in order], [keys[i] for i in order]
    for run in runs:
        warn_if_seen(run, texts, split)
    for _, clf in [*loaded, *([source_run] if source_run else [])]:
        clf.cover(texts, [spec.dictionary for spec in specs])  # a word-piece model takes in the words first
    with tempfile.TemporaryDirectory() as scratch:
        result = measure_robustness(loaded, specs, texts, labels, keys, source, seed, out or Path(scratch),
                                    batch_size, source_run, words_of_corpus(data))
    if not world().main:  # rank 0 speaks for all
        return
    if out is None:  # the records went with the scratch folder
        for entry in result["runs"]:
            for figures in entry["attacks"].values():
                figures["records_file"] = None
    if as_json:
        click.echo(strict_json.dumps(result, indent=1))
    else:
        print_robustness(result)
    if plots:
        for path in write_robustness_plots(result, plots):
            click.echo(f"wrote {path}", err=True)


def read_user_texts(path: Path, text_column: str, label_column: str, empty: str, clf) -> tuple[list, list]:
    """Texts from a .txt (one per line) or .csv/.jsonl file; labels from the file or the model."""
    from advtext.text.classifier import check_labels_fit
    from advtext.text.corpora import is_record_file, labeled_examples, read_records, read_text_file

    if is_record_file(path):
        rows = read_records(path)
        if rows and label_column in rows[0]:
            texts, labels = labeled_examples(rows, str(path), text_column, label_column, empty, all_classes=False)
            check_labels_fit(clf.num_classes, labels, str(path))
            return texts, labels
        rows = [{**r, label_column: 0} for r in rows]
        texts, _ = labeled_examples(rows, str(path), text_column, label_column, empty)
    else:
        lines = [line.rstrip("\r") for line in read_text_file(path).removesuffix("\n").split("\n")]
        texts = [line for line in lines if line.strip()]
        if len(texts) < len(lines) and empty == "refuse":
            raise AdvtextError(f"{path} has empty lines: remove them or pass --empty skip")
        if len(texts) < len(lines):
            click.echo(f"note: skipped {len(lines) - len(texts)} empty line(s) in {path}", err=True)
    return texts, clf.predict_proba(texts).argmax(-1).tolist()


def constraints_said(config: dict) -> str:
    """The constraints an attack file's header records, for a table title ('' when none was set)."""
    said = [f"{name} {config[key]}" for key, name in (("max_change", "max-change"), ("min_words", "min-words"),
                                                      ("min_similarity", "min-similarity"))
            if config.get(key) not in (None, 0)]
    said += [name for key, name in (("protect_stopwords", "stopwords kept"),
                                    ("protect_punctuation", "punctuation kept"), ("pos", "POS agreement"),
                                    ("polarity_guard", "polarity guard")) if config.get(key)]
    return f" ({', '.join(said)})" if said else ""


@cli.command()
@click.argument("records_file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the statistics as JSON")
@click.option("--plots", type=click.Path(path_type=Path), default=None, help="write PNG plots to this folder")
@click.option("--examples", type=click.IntRange(min=0), default=3, show_default=True,
              help="adversarial examples to show")
@click.option("--csv", "csv_out", type=click.Path(path_type=Path), default=None,
              help="also write the records as TextAttack's CSV log (its columns, changed words marked [[word]])")
def stats(records_file, as_json, plots, examples, csv_out):
    """Statistics of an attack's records (advtext's JSONL, or TextAttack's CSV log): success, words changed,
    budget curve, cost."""
    from advtext.metrics import attack_summary
    from advtext.report import print_attack_summary, print_examples, write_attack_plots
    from advtext.text.corpora import read_text_file
    from advtext.text.run_attack import read_attack_file
    from advtext.text.textattack_csv import is_textattack_csv, read_textattack_csv, write_textattack_csv

    raw = read_text_file(records_file)  # missing, empty or non-UTF-8 files get their one-line error here
    textattack_log = is_textattack_csv(records_file)
    if textattack_log:
        config, records = {"method": "TextAttack", "goal": "untargeted", "dictionary": "its own"}, \
            read_textattack_csv(records_file)
    else:
        config, records = read_attack_file(records_file)
    if not textattack_log and not raw.endswith("\n"):
        click.echo(f"note: the last line of {records_file} was cut short (an interrupted write) and is not "
                   "counted", err=True)
    if not records:
        raise AdvtextError(f"{records_file} holds no attack records yet: run `advtext attack` first")
    summary = attack_summary(records)
    if as_json:
        click.echo(strict_json.dumps({"config": config, **summary}, indent=1))
    else:
        print_attack_summary(summary, f"{records_file}: {config.get('method')} attack, goal {config.get('goal')}, "
                                      f"dictionary {config.get('dictionary')}{constraints_said(config)}")
        print_examples(records, examples)
    if plots:
        for p in write_attack_plots(summary, plots):
            click.echo(f"wrote {p}", err=True)
    if csv_out:
        write_textattack_csv(records, csv_out)
        click.echo(f"wrote {csv_out} (TextAttack's CSV columns)", err=True)


@cli.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=Path("report.html"), show_default=True)
def report(results, out):
    """One self-contained HTML page of attack results, side by side: attack files (.jsonl), TextAttack CSV logs,
    robustness --out folders and image attack folders."""
    from advtext.html_report import write_report

    size = write_report(list(results), out)
    click.echo(f"wrote {out} ({size / 1e6:.2f} MB)", err=True)


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/demo"), show_default=True)
@click.option("--limit", "--n", "limit", type=int, default=300, show_default=True, callback=_positive,
              help="test reviews to attack in each mode, and to measure robustness on")
@click.option("--harden-epochs", type=int, default=2, show_default=True, callback=_positive,
              help="epochs of adversarial training in the third act")
@click.pass_context
def demo(ctx, out, limit, harden_epochs):
    """The main job end to end: train (or reuse) the IMDB LSTM, attack test reviews in both modes, then harden
    it by adversarial training and compare the two models' robustness."""
    from advtext.metrics import attack_summary
    from advtext.report import write_attack_plots
    from advtext.text.run_attack import read_attack_file

    run, hardened = out / "imdb-lstm", out / "imdb-lstm-hardened"
    if (run / "model.safetensors").exists():
        click.echo(f"reusing the model in {run} (delete it to retrain)", err=True)
    else:
        ctx.invoke(train, corpus="imdb", max_len=100, out=run)
    click.echo("== act 2: attack", err=True)
    for method in ("papernot", "greedy"):
        records = out / f"attack-{method}.jsonl"
        ctx.invoke(attack, run=run, corpus="imdb", split="test", max_words=100, limit=limit, only_correct=True,
                   method=method, out=records)
        for path in write_attack_plots(attack_summary(read_attack_file(records)[1]), out / f"plots-{method}"):
            click.echo(f"wrote {path}", err=True)
    click.echo("== act 3: harden (discrete adversarial training, WordNet synonyms) and measure", err=True)
    if (hardened / "model.safetensors").exists():
        click.echo(f"reusing the hardened model in {hardened} (delete it to harden again)", err=True)
    else:
        ctx.invoke(harden, corpus="imdb", from_run=run, epochs=harden_epochs, out=hardened)
    ctx.invoke(robustness, runs=(run, hardened), corpus="imdb", max_words=100, limit=limit,
               methods="greedy,papernot", dictionaries="wordnet", transfer_from=run, out=out / "robustness",
               plots=out / "plots-robustness")


@cli.command()
@click.argument("run", type=click.Path(path_type=Path))
@corpus_options("seed of the random direction the unit is compared with")
@click.option("--split", default="test", show_default=True)
@click.option("--unit", type=int, default=0, show_default=True, help="hidden unit of the LSTM state")
@click.option("--top", type=int, default=8, show_default=True, callback=_positive, help="sentences per list")
@click.option("--device", default="auto", show_default=True)
def probe(run, corpus, text_column, label_column, empty, max_words, seed, split, unit, top, device):
    """Szegedy et al. 2013 on text: the sentences that most excite one LSTM unit beside a random direction."""
    from advtext.text.classifier import TextClassifier
    from advtext.text.probe import text_probe

    clf = TextClassifier.load(run, device)
    texts, _ = run_split_texts(clf, corpus, text_column, label_column, empty, split, max_words)
    for name, rows in text_probe(clf, texts, unit, top, seed).items():
        click.echo(f"== {name}")
        for text in rows:
            click.echo(f"  - {text[:200]}")


def _add_subgroups() -> None:
    from advtext.image.cli import image

    cli.add_command(image)


_add_subgroups()


def main() -> None:
    """Run the CLI; user errors become one line on stderr and exit code 2."""
    from advtext.distributed import finish, leave, saying_why_it_stops, world

    code = 0
    try:
        cli.main(standalone_mode=False)
        leave()
    except AdvtextError as e:
        w = world()  # under torchrun every rank may say it: rank 0 as one process would, the others by rank
        saying_why_it_stops()
        click.echo(f"error: {e}" if w.main else f"error (rank {w.rank}): {e}", err=True)
        code = 2
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help())
        code = 0
    except click.UsageError as e:
        hint = f" (see `advtext {e.ctx.command_path.split(' ', 1)[1]} --help`)" if e.ctx and " " in \
            e.ctx.command_path else " (see `advtext --help`)"
        click.echo(f"error: {e.format_message()}{hint}", err=True)
        code = 2
    except click.exceptions.Abort:
        click.echo("interrupted: results written so far are kept", err=True)
        code = 130
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        code = 2
    except OSError as e:  # files and folders the user named: missing, unwritable, in the way
        saying_why_it_stops()
        click.echo(f"error: {e.strerror or e}: {e.filename or ''} (check the path)", err=True)
        code = 2
    finish(code)
