"""One TextAttack 0.3.11 recipe against a Hugging Face sequence classifier, on given labelled texts.

Runs in the TextAttack venv (never advtext's), fully offline: WordNet and the stopwords come from
local NLTK data folders, the model from a local folder that `advtext export` wrote.

    python textattack_hf.py --model DIR --texts texts.jsonl --recipe pwws --out result.json \
        --nltk-data DIR [--nltk-data DIR ...]

Writes, per text: status (succeeded / failed / skipped), the perturbed text, the indices of the
changed words (TextAttack's words), the number of words, the model queries and the seconds of the
attack call. Recipes that cannot run offline or on this model say why in one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", required=True, help="JSONL with text and label")
    ap.add_argument("--recipe", required=True, choices=("pwws", "textfooler", "gradient"))
    ap.add_argument("--nltk-data", action="append", default=[])
    ap.add_argument("--cache", required=True, help="folder for TextAttack's and matplotlib's caches")
    ap.add_argument("--csv", default=None, help="also write TextAttack's own CSV log (its CSVLogger) here")
    ap.add_argument("--max-length", type=int, default=None,
                    help="the tokenizer's model_max_length, to which TextAttack's wrapper pads every input")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.environ["TA_CACHE_DIR"] = os.path.join(args.cache, "textattack")
    os.environ["MPLCONFIGDIR"] = os.path.join(args.cache, "matplotlib")
    os.environ["HF_HUB_OFFLINE"] = "1"
    import nltk

    nltk.data.path[:0] = [os.path.abspath(p) for p in args.nltk_data]
    import torch
    import transformers
    from textattack import attack_recipes
    from textattack.attack_results import FailedAttackResult, SkippedAttackResult
    from textattack.models.wrappers import HuggingFaceModelWrapper

    model = transformers.AutoModelForSequenceClassification.from_pretrained(args.model, local_files_only=True).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.model, local_files_only=True)
    if args.max_length:
        tokenizer.model_max_length = args.max_length
    wrapper = HuggingFaceModelWrapper(model, tokenizer)
    recipe = {"pwws": attack_recipes.PWWSRen2019, "textfooler": attack_recipes.TextFoolerJin2019,
              "gradient": attack_recipes.HotFlipEbrahimi2017}[args.recipe]
    try:
        attack = recipe.build(wrapper)
    except Exception as e:  # the recipe's own reason: a download it needs, a model it refuses
        print(f"TextAttack's {args.recipe} recipe cannot be built here: {type(e).__name__}: "
              f"{str(e).splitlines()[0][:300]}", file=sys.stderr)
        sys.exit(2)
    rows = [json.loads(line) for line in open(args.texts, encoding="utf-8")]
    results, attack_results = [], []
    with torch.no_grad():
        for i, row in enumerate(rows):
            start = time.perf_counter()
            result = attack.attack(row["text"], row["label"])
            seconds = time.perf_counter() - start
            attack_results.append(result)
            original = result.original_result.attacked_text
            perturbed = result.perturbed_result.attacked_text
            status = ("skipped" if isinstance(result, SkippedAttackResult) else
                      "failed" if isinstance(result, FailedAttackResult) else "succeeded")
            results.append({"status": status, "perturbed": perturbed.text,
                            "changed": sorted(original.all_words_diff(perturbed)),
                            "original_words": original.words, "perturbed_words": perturbed.words,
                            "queries": result.perturbed_result.num_queries, "seconds": seconds})
            if (i + 1) % 25 == 0:
                ok = sum(r["status"] == "succeeded" for r in results)
                print(f"  {i + 1}/{len(rows)}: {ok} succeeded", file=sys.stderr, flush=True)
    summary = {}
    if args.csv:
        from textattack.loggers import CSVLogger
        from textattack.metrics.attack_metrics import AttackSuccessRate

        logger = CSVLogger(filename=args.csv, color_method="file")
        for result in attack_results:
            logger.log_attack_result(result)
        logger.flush()
        summary = AttackSuccessRate().calculate(attack_results)  # what TextAttack prints as its success rate
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"recipe": args.recipe, "threads": torch.get_num_threads(), "textattack_summary": summary,
                   "max_length": tokenizer.model_max_length, "results": results}, f)


if __name__ == "__main__":
    main()
