"""Reader precision benchmark at roberta-base size: fp32 against torch int8 and the candidates that might beat it.

    .venv/bin/python -m bench.precision_bench                 # 20 questions (12 took 12 minutes on 2 busy cores)
    .venv/bin/python -m bench.precision_bench --questions 60  # all of bench/questions.jsonl

One process, the same questions (bench/questions.jsonl) and the same passages for every variant: the shipped
Wikipedia passages (data/countries-and-capitals.jsonl.gz) in a SparseBM25DocumentStore, BM25 top 5, retrieved
once per question. Each variant is a FARMReader loaded from a random-weight reader of roberta-base shape
(12 layers x 768, built locally: no model hub is reachable; compute is what is measured), with the service's
reader parameters (pipeline.yml). The variants answer each question in turn, round robin, so a change in the
machine's load hits all of them alike. A question's time is FARMReader.predict over its 5 passages.

Variants: fp32 (Haystack as loaded, the baseline); torch int8 (what reader_precision int8 does); bf16 autocast on
CPU; ONNX Runtime's own dynamic int8 of the encoder (when onnxruntime and onnx are installed); torch int8 with a
shorter max_seq_len. Agreement: the share of questions whose best answer equals fp32's. With random weights that
says how far a format moves the model's numbers, not how accurate a trained model stays.
Writes bench/results/precision.md and precision.json.
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List, Optional  # noqa: E402

if not __package__:  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROJECT_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT_DIR / "bench" / "results"
MODELS_DIR = RESULTS_DIR / "models"
QUESTIONS = PROJECT_DIR / "bench" / "questions.jsonl"
PASSAGES = PROJECT_DIR / "data" / "countries-and-capitals.jsonl.gz"
# The service's reader parameters (pipeline.yml), its window apart (Haystack's own default is max_seq_len 256).
READER_PARAMS = {"context_window_size": 1000, "return_no_answer": True, "progress_bar": False, "num_processes": 0}
DEFAULT_WINDOW = {"max_seq_len": 384, "doc_stride": 128}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- variants: each turns a freshly loaded reader into what it measures, and may wrap its predict ---------------


def fp32(reader, workdir: Path) -> Optional[Callable]:
    return None


def torch_int8(reader, workdir: Path) -> Optional[Callable]:
    from capitals_qa.pipeline.precision import apply_precision

    apply_precision(reader, "int8")  # exactly what reader_precision int8 does in a replica
    return None


def bf16_autocast(reader, workdir: Path) -> Optional[Callable]:
    import torch

    return lambda: torch.autocast("cpu", dtype=torch.bfloat16)


def onnxruntime_int8(reader, workdir: Path) -> Optional[Callable]:
    """The encoder exported to ONNX, quantized by ONNX Runtime (dynamic int8), run by its CPU provider; the QA
    head and everything around it stay Haystack's."""
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from capitals_qa.pipeline.internals import reader_model

    language_model = reader_model(reader).language_model
    encoder = language_model.model

    class Positional(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder  # a submodule, so the exporter sees its weights as weights

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, return_dict=False)

    example = torch.ones(1, 16, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    outputs = ["last_hidden_state", "pooler_output"]
    fp32_file, int8_file = workdir / "encoder.onnx", workdir / "encoder.int8.onnx"
    with torch.no_grad():
        torch.onnx.export(Positional().eval(), (example, example, example * 0), str(fp32_file), input_names=names,
                          output_names=outputs, opset_version=17, dynamo=False,
                          dynamic_axes={name: {0: "batch", 1: "tokens"} for name in names + outputs[:1]} | {"pooler_output": {0: "batch"}})
    quantize_dynamic(str(fp32_file), str(int8_file), weight_type=QuantType.QInt8)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(int8_file), options, providers=["CPUExecutionProvider"])

    class OrtEncoder(torch.nn.Module):
        """Called by Haystack's language model as the Hugging Face model is: returns (sequence, pooled)."""

        def forward(self, input_ids, token_type_ids=None, attention_mask=None, return_dict=False, **_):
            feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy(),
                     "token_type_ids": token_type_ids.numpy()}
            return tuple(torch.from_numpy(array) for array in session.run(outputs, feeds))

    language_model.model = OrtEncoder()
    return None


# name: (what it is, how it is made, reader parameters beyond the service's)
VARIANTS = {
    "fp32": ("Haystack FARMReader as loaded (the baseline)", fp32, {}),
    "torch-int8": ("torch dynamic int8 of the Linear layers (reader_precision int8)", torch_int8, {}),
    "bf16-autocast": ("fp32 weights, matmuls in bf16 under torch.autocast on CPU (AVX-512 BF16)", bf16_autocast, {}),
    "onnxruntime-int8": ("encoder in ONNX Runtime, its dynamic int8 quantization", onnxruntime_int8, {}),
    "torch-int8-seq256": ("torch int8, max_seq_len 256, doc_stride 128", torch_int8, {"max_seq_len": 256, "doc_stride": 128}),
    "torch-int8-seq320": ("torch int8, max_seq_len 320, doc_stride 128", torch_int8, {"max_seq_len": 320, "doc_stride": 128}),
}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=20, help="how many questions of bench/questions.jsonl (default 20)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch (and ONNX Runtime) threads (default: every core)")
    parser.add_argument("--output", default="precision", help="bench/results/<output>.md and .json")
    args = parser.parse_args(argv)
    names = args.variants.split(",")
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or names[0] != "fp32":
        parser.error(f"unknown variants {unknown}" if unknown else "the first variant must be fp32, the baseline")

    import torch
    from haystack.nodes import BM25Retriever, FARMReader

    from capitals_qa.pipeline.documents import read_records_file
    from capitals_qa.pipeline.sparse_bm25 import SparseBM25DocumentStore

    torch.set_num_threads(args.threads)
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()][: args.questions]
    store = SparseBM25DocumentStore()
    store.write_documents(read_records_file(PASSAGES))
    retriever = BM25Retriever(document_store=store, top_k=5)
    passages = {question: retriever.retrieve(question) for question in questions}
    model = ensure_model()

    readers, contexts, skipped = {}, {}, {}
    workdir = Path(tempfile.mkdtemp(prefix="precision-bench-"))
    for name in names:
        description, make, window = VARIANTS[name]
        progress(f"loading {name}: {description}")
        reader = FARMReader(model_name_or_path=str(model), **READER_PARAMS, **{**DEFAULT_WINDOW, **window})
        try:
            contexts[name] = make(reader, workdir) or contextlib.nullcontext
        except ImportError as error:
            skipped[name] = f"not measured: {error} (pip install onnxruntime onnx)"
            progress(f"{name} {skipped[name]}")
            continue
        readers[name] = reader
        with contexts[name]():
            reader.predict(query=questions[0], documents=passages[questions[0]], top_k=1)  # warm-up, untimed

    timings: Dict[str, List[float]] = {name: [] for name in readers}
    best: Dict[str, List[str]] = {name: [] for name in readers}
    windows: Dict[str, int] = {}
    started = time.perf_counter()
    for number, question in enumerate(questions, 1):
        for name, reader in readers.items():  # round robin: load changes hit every variant alike
            with contexts[name]():
                start = time.perf_counter()
                prediction = reader.predict(query=question, documents=passages[question], top_k=1)
                timings[name].append((time.perf_counter() - start) * 1000)
            best[name].append(prediction["answers"][0].answer if prediction["answers"] else "")
        progress(f"question {number}/{len(questions)}: " + ", ".join(f"{n} {timings[n][-1]:.0f} ms" for n in readers))
    for name, reader in readers.items():
        windows[name] = count_windows(reader, questions[0], passages[questions[0]])

    rows = {}
    for name in readers:
        p50 = statistics.median(timings[name])
        rows[name] = {
            "description": VARIANTS[name][0],
            "window": {**DEFAULT_WINDOW, **VARIANTS[name][2]},
            "p50_ms": p50,
            "p90_ms": percentile(timings[name], 90),
            "vs_fp32": p50 / statistics.median(timings["fp32"]),
            "vs_torch_int8": p50 / statistics.median(timings["torch-int8"]) if "torch-int8" in timings else None,
            "agreement_with_fp32": sum(a == b for a, b in zip(best[name], best["fp32"])) / len(questions),
            "model_windows_first_question": windows[name],
            "timings_ms": timings[name],
        }
    results = {
        "machine": machine(),
        "threads": args.threads,
        "questions": len(questions),
        "passages_per_question": 5,
        "model": "random-weight BertForQuestionAnswering, 12 layers x 768, 12 heads (roberta-base shape)",
        "seconds": time.perf_counter() - started,
        "variants": rows,
        "skipped": skipped,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{args.output}.json").write_text(json.dumps(results, indent=2, default=str))
    (RESULTS_DIR / f"{args.output}.md").write_text(report(results))
    print(report(results))


def ensure_model() -> Path:
    """The roberta-base-shaped random-weight reader, built once into bench/results/models/base (as serve_bench does)."""
    import shutil

    from capitals_qa.testing.models import build_qa_model

    folder = MODELS_DIR / "base"
    if not folder.is_dir():
        progress(f"building the base-size reader in {folder}")
        partial = folder.with_name("base.partial")
        shutil.rmtree(partial, ignore_errors=True)
        build_qa_model(partial, "base")
        partial.rename(folder)
    return folder


def count_windows(reader, question: str, documents) -> int:
    """How many (question, passage window) rows the model runs for one question: a shorter max_seq_len splits a
    passage into more windows, each padded to max_seq_len. Counted with the reader's own preprocessing."""
    from haystack.modeling.data_handler.inputs import QAInput, Question

    dicts = [QAInput(doc_text=d.content, questions=Question(text=question, uid=d.id)).to_dict() for d in documents]
    try:
        dataset, *_ = reader.inferencer.processor.dataset_from_dicts(dicts, indices=list(range(len(dicts))), return_baskets=True)
        return len(dataset)
    except Exception:  # a Haystack change here costs this column only
        return -1


def paired(row: Dict, baseline: Dict) -> float:
    """The median, over questions, of this variant's time over the baseline's for the same question."""
    return statistics.median(a / b for a, b in zip(row["timings_ms"], baseline["timings_ms"]))


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def machine() -> Dict:
    import haystack
    import torch

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    wanted = ("avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except ImportError:
        ort = None
    return {
        "cores": os.cpu_count(),
        "cpu": model.group(1) if model else platform.processor(),
        "cpu_flags": [flag for flag in wanted if flags and flag in flags.group(1).split()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": ort,
        "haystack": haystack.__version__,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_average_start": os.getloadavg(),
    }


def report(results: Dict) -> str:
    m = results["machine"]
    lines = [
        "# Reader precision at roberta-base size",
        "",
        f"`python -m bench.precision_bench` ({results['questions']} questions of bench/questions.jsonl, BM25 top "
        f"{results['passages_per_question']} Wikipedia passages each, {results['threads']} threads, one process, variants "
        f"round robin per question). Model: {results['model']}. Time per question: FARMReader.predict over its passages.",
        "",
        f"Machine: {m['cores']} cores, {m['cpu']} ({', '.join(m['cpu_flags']) or 'no VNNI/BF16/AMX flags'}), "
        f"torch {m['torch']}, onnxruntime {m['onnxruntime'] or 'not installed'}, Haystack {m['haystack']}, "
        f"{m['date']}, load average at start {', '.join(f'{x:.1f}' for x in m['load_average_start'])}. "
        f"Run took {results['seconds']:.0f} s.",
        "",
        "| variant | max_seq_len / doc_stride | model rows, first question | p50 ms | p90 ms | min ms | p50 vs fp32 | p50 vs torch int8 | paired vs fp32 | paired vs torch int8 | best answer = fp32's |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    variants = results["variants"]
    for name, row in variants.items():
        vs_int8 = f"{row['vs_torch_int8']:.2f}x" if row["vs_torch_int8"] is not None else "-"
        paired_int8 = f"{paired(row, variants['torch-int8']):.2f}x" if "torch-int8" in variants else "-"
        lines.append(
            f"| {name}: {row['description']} | {row['window']['max_seq_len']} / {row['window']['doc_stride']} | "
            f"{row['model_windows_first_question']} | {row['p50_ms']:.0f} | {row['p90_ms']:.0f} | {min(row['timings_ms']):.0f} | "
            f"{row['vs_fp32']:.2f}x | {vs_int8} | {paired(row, variants['fp32']):.2f}x | {paired_int8} | "
            f"{100 * row['agreement_with_fp32']:.0f}% |"
        )
    for name, why in results["skipped"].items():
        lines.append(f"| {name}: {VARIANTS[name][0]} | | | | | | | | | | {why} |")
    lines += [
        "",
        "Ratios are a variant's time over another's in this run (below 1 is faster): `p50 vs` divides the p50s; "
        "`paired vs` is the median over questions of the two times for the same question, taken moments apart (round "
        "robin), so it is the steadier figure when other processes load the machine. Agreement compares best-answer text with fp32's on random "
        "weights: how far a format moves the numbers, not a trained model's accuracy.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
