"""Probes for the mllm topic: build and run the learner's tiny LLaVA pieces, return plain data.

Verdicts are the grader's. Where a probe needs a model the learner did not write the task for, it uses a
trusted one defined here (`ReferenceLM` for greedy_generate), so one bug costs points on its own task only.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn

from autograder.probes import one_cpu_thread
from autograder.probes.training import GradientWatch
from mmprep.data.vqa import EOS_ID, IMAGE_ID, PAD_ID, VOCAB, decode, encode


def _np(x, dtype=np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    return arr.astype(dtype) if arr.dtype.kind in "biuf" else arr


def _raised(call) -> list[str]:
    """Built-in exception classes `call` raised ([] when it returned)."""
    try:
        call()
    except NotImplementedError:
        raise  # the grader reports "not implemented yet"
    except Exception as exc:  # noqa: BLE001 - the verdict is the grader's
        return [c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins"]
    return []


def _params(module: nn.Module) -> dict:
    return {name: _np(p) for name, p in module.named_parameters()}


# ----------------------------------------------------------------------------- vision side and connectors
@one_cpu_thread()
def patch_embedding(module, image_size: int, patch_size: int, channels: int, dim: int, images, seed: int, *, device: str):
    torch.manual_seed(seed)
    layer = module.PatchEmbedding(image_size, patch_size, channels, dim).to(device)
    out = layer(torch.tensor(images, dtype=torch.float32, device=device))
    return {"output": _np(out), "weight": _np(layer.proj.weight), "bias": _np(layer.proj.bias)}


def patch_embedding_raises(module, *, device: str):
    def forward_wrong_size():
        module.PatchEmbedding(12, 4, 3, 8).to(device)(torch.zeros(2, 3, 16, 16, device=device))

    return {"image_size 10, patch_size 4": _raised(lambda: module.PatchEmbedding(10, 4, 3, 8)),
            "a 16x16 image into a 12x12 PatchEmbedding": _raised(forward_wrong_size)}


@one_cpu_thread()
def mlp_projector(module, vision_dim: int, text_dim: int, hidden_dim, x, seed: int, *, device: str):
    torch.manual_seed(seed)
    layer = (module.MLPProjector(vision_dim, text_dim) if hidden_dim is None
             else module.MLPProjector(vision_dim, text_dim, hidden_dim)).to(device)
    out = layer(torch.tensor(x, dtype=torch.float32, device=device))
    return {"output": _np(out), "params": _params(layer)}


@one_cpu_thread()
def resampler(module, num_queries: int, dim: int, vision_dim: int, inputs, seed: int, *, device: str):
    """Outputs for several image-token sets (one module), and gradients of the queries."""
    torch.manual_seed(seed)
    layer = module.QFormerResampler(num_queries, dim, vision_dim, num_layers=2, num_heads=2).to(device)
    layer.eval()
    outs = []
    for x in inputs:
        t = torch.tensor(x, dtype=torch.float32, device=device)
        with torch.no_grad():
            outs.append(_np(layer(t)))
    again = _np(layer(torch.tensor(inputs[0], dtype=torch.float32, device=device)).detach())
    layer.zero_grad()
    layer(torch.tensor(inputs[0], dtype=torch.float32, device=device)).pow(2).sum().backward()
    shaped = {name: (list(p.shape), bool(p.requires_grad), float(p.grad.norm()) if p.grad is not None else 0.0)
              for name, p in layer.named_parameters()}
    queries = [n for n, (shape, _, _) in shaped.items() if shape == [num_queries, dim]]
    return {"outputs": outs, "again": again, "query_params": queries,
            "query_grad": [shaped[n][2] for n in queries]}


def pixel_shuffle(module, tokens, factor: int, *, device: str):
    return _np(module.pixel_shuffle_merge(torch.tensor(tokens, dtype=torch.float32, device=device), factor))


def pixel_shuffle_raises(module, cases, *, device: str):
    out = {}
    for n, factor in cases:
        out[f"N = {n}, factor {factor}"] = _raised(
            lambda n=n, factor=factor: module.pixel_shuffle_merge(torch.zeros(2, n, 3, device=device), factor))
    return out


# ----------------------------------------------------------------------------- splicing and the loss
@one_cpu_thread()
def splice(module, input_ids, target_mask, image_features, embedding_weight, image_token_id: int, pad_id: int, *,
           device: str):
    embedding = nn.Embedding.from_pretrained(torch.tensor(embedding_weight, dtype=torch.float64), freeze=False).to(device)
    feats = torch.tensor(image_features, dtype=torch.float64, device=device, requires_grad=True)
    out = module.splice_image_tokens(torch.tensor(input_ids, dtype=torch.long, device=device),
                                     torch.tensor(target_mask, dtype=torch.bool, device=device), feats, embedding,
                                     image_token_id, pad_id)
    emb = out["inputs_embeds"]
    weights = torch.arange(1, emb.numel() + 1, dtype=torch.float64, device=device).reshape(emb.shape) / emb.numel()
    (emb * weights).sum().backward()
    return {"inputs_embeds": _np(emb), "attention_mask": _np(out["attention_mask"], np.int64),
            "position_ids": _np(out["position_ids"], np.int64), "labels": _np(out["labels"], np.int64),
            "image_grad": _np(feats.grad) if feats.grad is not None else np.zeros(0),
            "grad_weights": _np(weights)}


def splice_raises(module, cases, *, device: str):
    embedding = nn.Embedding(20, 4).to(device)
    out = {}
    for case, (ids, target) in cases.items():
        ids_t = torch.tensor(ids, dtype=torch.long, device=device)
        out[case] = _raised(lambda ids_t=ids_t, target=target: module.splice_image_tokens(
            ids_t, torch.tensor(target, dtype=torch.bool, device=device), torch.zeros(len(ids_t), 2, 4, device=device),
            embedding, 1, 0))
    return out


def causal_lm_loss(module, logits, labels, *, device: str):
    t = torch.tensor(logits, dtype=torch.float64, device=device, requires_grad=True)
    loss = module.causal_lm_loss(t, torch.tensor(labels, dtype=torch.long, device=device))
    loss.backward()
    return {"loss": float(loss.detach().cpu()), "grad": _np(t.grad) if t.grad is not None else np.zeros(0)}


def causal_lm_loss_raises(module, logits, labels, *, device: str):
    return _raised(lambda: module.causal_lm_loss(torch.tensor(logits, dtype=torch.float32, device=device),
                                                 torch.tensor(labels, dtype=torch.long, device=device)))


# ----------------------------------------------------------------------------- the language model
@one_cpu_thread()
def causal_lm(module, config: dict, embeds, prefix: int, perturb_at: int, padded_embeds, padded_mask, seed: int, *,
              device: str):
    """What TinyCausalLM computes: full, perturbed, left-padded, cached, and with gradients."""
    torch.manual_seed(seed)
    model = module.TinyCausalLM(**config).to(device)
    model.eval()
    x = torch.tensor(embeds, dtype=torch.float32, device=device)
    out = {}
    with torch.no_grad():
        logits, _ = model(x)
        out["logits"] = _np(logits)
        bumped = x.clone()
        bumped[:, perturb_at] = bumped[:, perturb_at].flip(-1)  # not a constant shift: LayerNorm would erase it
        out["perturbed"] = _np(model(bumped)[0])
        # cache: the prefix, then the rest in one call, then position by position
        first, cache = model(x[:, :prefix], use_cache=True)
        rest, _ = model(x[:, prefix:], past_key_values=cache, use_cache=True)
        out["cached_chunks"] = _np(torch.cat([first, rest], dim=1))
        steps, cache = [first], cache
        for t in range(prefix, x.shape[1]):
            step, cache = model(x[:, t : t + 1], past_key_values=cache, use_cache=True)
            steps.append(step)
        out["cached_steps"] = _np(torch.cat(steps, dim=1))
        out["cache_shapes"] = [[list(k.shape), list(v.shape)] for k, v in cache]
        pe = torch.tensor(padded_embeds, dtype=torch.float32, device=device)
        pm = torch.tensor(padded_mask, dtype=torch.bool, device=device)
        positions = (pm.long().cumsum(1) - 1).clamp(min=0)
        out["padded"] = _np(model(pe, attention_mask=pm, position_ids=positions)[0])
    model.train()
    model.zero_grad()
    leaf = x.clone().requires_grad_(True)
    model(leaf)[0].pow(2).mean().backward()
    out["grad_embeds"] = float(leaf.grad.norm()) if leaf.grad is not None else 0.0
    out["grad_params"] = float(sum(float(p.grad.norm()) for p in model.parameters() if p.grad is not None))
    out["has_embed_tokens"] = isinstance(getattr(model, "embed_tokens", None), nn.Embedding)
    return out


class ReferenceLM(nn.Module):
    """A trusted one-layer causal LM with TinyCausalLM's interface (embed_tokens, forward with cache).

    Positions matter strongly (large position embeddings), so decoding at the wrong position changes tokens.
    `calls` records the number of positions each forward ran on.
    """

    def __init__(self, vocab: int, dim: int, max_len: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.embed_tokens.weight.data = torch.randn(vocab, dim, generator=g)
        self.pos = torch.randn(max_len, dim, generator=g) * 2.0
        self.wq, self.wk, self.wv = (torch.randn(dim, dim, generator=g) / math.sqrt(dim) for _ in range(3))
        self.head = torch.randn(dim, vocab, generator=g) / math.sqrt(dim) * 3.0
        self.calls: list[int] = []

    def forward(self, inputs_embeds, attention_mask=None, position_ids=None, past_key_values=None, use_cache=False):
        b, t, _ = inputs_embeds.shape
        past = 0 if past_key_values is None else past_key_values[0][0].shape[1]
        self.calls.append(int(t))
        if attention_mask is None:
            attention_mask = torch.ones(b, past + t, dtype=torch.bool, device=inputs_embeds.device)
        if tuple(attention_mask.shape) != (b, past + t):
            raise ValueError(f"attention_mask must be (B, {past + t}), got {tuple(attention_mask.shape)}")
        if position_ids is None:
            position_ids = torch.arange(past, past + t, device=inputs_embeds.device).expand(b, t)
        h = inputs_embeds.float() + self.pos.to(inputs_embeds.device)[position_ids]
        q, k, v = h @ self.wq.to(h.device), h @ self.wk.to(h.device), h @ self.wv.to(h.device)
        if past_key_values is not None:
            k = torch.cat([past_key_values[0][0], k], dim=1)
            v = torch.cat([past_key_values[0][1], v], dim=1)
        query_at = torch.arange(past, past + t, device=h.device).unsqueeze(1)
        key_at = torch.arange(past + t, device=h.device).unsqueeze(0)
        allowed = ((key_at <= query_at).unsqueeze(0) & attention_mask.bool().unsqueeze(1)) | (key_at == query_at)
        scores = (q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])).masked_fill(~allowed, float("-inf"))
        out = h + scores.softmax(-1) @ v
        logits = torch.tanh(out) @ self.head.to(h.device)
        return logits, (((k, v),) if use_cache else None)


def _reference_greedy(model: ReferenceLM, embeds, mask, steps: int, eos_id: int) -> np.ndarray:
    """Trusted greedy decoding: rerun the whole sequence every step, positions over real tokens only."""
    b = embeds.shape[0]
    tokens = np.full((b, steps), eos_id, dtype=np.int64)
    with torch.no_grad():
        for row in range(b):
            keep = mask[row].bool()
            seq = embeds[row : row + 1, keep]
            for s in range(steps):
                logits, _ = model(seq)
                token = int(logits[0, -1].argmax())
                tokens[row, s] = token
                if token == eos_id:
                    break
                seq = torch.cat([seq, model.embed_tokens(torch.tensor([[token]], device=seq.device))], dim=1)
    return tokens


@one_cpu_thread()
def generate(module, vocab: int, dim: int, prompt_lengths, max_new_tokens: int, seed: int, *, device: str):
    """The learner's greedy_generate on a trusted model, with and without the cache, and the reference."""
    torch.manual_seed(seed)
    model = ReferenceLM(vocab, dim, 64, seed).to(device)
    b, width = len(prompt_lengths), max(prompt_lengths)
    g = torch.Generator().manual_seed(seed + 1)
    embeds = torch.randn(b, width, dim, generator=g).to(device)
    mask = torch.zeros(b, width, dtype=torch.bool)
    for row, n in enumerate(prompt_lengths):
        mask[row, width - n :] = True  # left padding
    embeds = embeds * mask.unsqueeze(-1).to(device)  # padding slots hold zeros
    mask = mask.to(device)
    # the eos: a token row 0 produces early that the other rows produce later or never (ties: the smaller id)
    free = _reference_greedy(model, embeds, mask, max_new_tokens, eos_id=-1)
    eos, best = int(free[0, 1]), None
    for token in sorted(set(free[0, : max_new_tokens - 2].tolist())):
        firsts = [int(np.argmax(r == token)) if (r == token).any() else max_new_tokens for r in free]
        if len(set(firsts)) == len(firsts) and (best is None or firsts[0] < best[0]):
            best, eos = firsts, token
    expected = _reference_greedy(model, embeds, mask, max_new_tokens, eos_id=eos)
    out = {"eos": eos, "expected": expected, "prompt_width": width}
    for name, use_cache in (("cached", True), ("uncached", False)):
        model.calls = []
        got = module.greedy_generate(model, embeds, mask, max_new_tokens, eos, use_cache=use_cache)
        out[name] = _np(got, np.int64)
        out[f"{name}_calls"] = list(model.calls)
    return out


# ----------------------------------------------------------------------------- the VLM
TINY = {"image_size": 16, "patch_size": 4, "vision_dim": 16, "dim": 24, "vision_layers": 1, "text_layers": 1,
        "num_heads": 2, "max_len": 48, "num_queries": 5}


def _left_pad(rows: list[list[int]], pad: int = PAD_ID) -> np.ndarray:
    width = max(len(r) for r in rows)
    return np.array([[pad] * (width - len(r)) + r for r in rows], dtype=np.int64)


@one_cpu_thread()
def vlm(module, images, rows, targets, seed: int, *, device: str):
    """TinyVLM with both connectors: feature shapes, a left-padded batch vs each row alone, gradients."""
    out = {}
    x = torch.tensor(images, dtype=torch.float32, device=device)
    for connector in ("mlp", "resampler"):
        torch.manual_seed(seed)
        model = module.TinyVLM(len(VOCAB), **TINY, connector=connector).to(device)
        with torch.no_grad():
            out[f"{connector}_features"] = list(model.image_features(x).shape)
    torch.manual_seed(seed)
    model = module.TinyVLM(len(VOCAB), **TINY, connector="mlp").to(device)
    model.eval()
    ids = torch.tensor(_left_pad(rows), device=device)
    target = torch.tensor(_left_pad(targets, 0), dtype=torch.bool, device=device)
    result = model(x, ids, target)
    logits = result["logits"]
    logits.retain_grad()
    result["loss"].backward()
    out.update(logits=_np(logits), labels=_np(result["labels"], np.int64), loss=float(result["loss"].detach()),
               attention_mask=_np(result["attention_mask"], np.int64), position_ids=_np(result["position_ids"], np.int64),
               logits_grad=_np(logits.grad) if logits.grad is not None else np.zeros(0),
               connector_grad=float(sum(float(p.grad.norm()) for p in model.connector.parameters() if p.grad is not None)))
    alone = []
    with torch.no_grad():
        for i, (r, t) in enumerate(zip(rows, targets)):
            single = model(x[i : i + 1], torch.tensor([r], device=device), torch.tensor([t], dtype=torch.bool, device=device))
            alone.append(_np(single["logits"][0]))
    out["alone"] = alone
    return out


@one_cpu_thread()
def freeze(module, stage: int, images, rows, seed: int, *, device: str):
    """freeze_for_stage, then one AdamW step on a loss touching every part: which parameters moved."""
    torch.manual_seed(seed)
    model = module.TinyVLM(len(VOCAB), **TINY, connector="mlp").to(device)
    module.freeze_for_stage(model, stage)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    flags = {n: bool(p.requires_grad) for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)  # grad-less parameters are skipped
    x = torch.tensor(images, dtype=torch.float32, device=device)
    ids = torch.tensor(rows, dtype=torch.long, device=device)
    lm = model.language_model
    embeds = torch.cat([model.image_features(x), lm.embed_tokens(ids)], dim=1)  # the probe's own splice
    logits, _ = lm(embeds)
    logits.pow(2).mean().backward()
    optimizer.step()
    after = model.state_dict()
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    return {"changed": changed, "names": sorted(before), "requires_grad": flags}


def freeze_raises(module, *, device: str):
    model = module.TinyVLM(len(VOCAB), **TINY)
    return _raised(lambda: module.freeze_for_stage(model, 3))


# ----------------------------------------------------------------------------- tiling
def tiles(module, cases, *, device: str):
    return [[int(v) for v in module.dynamic_tiles(*args, **kwargs)] for args, kwargs in cases]


def visual_tokens(module, cases, *, device: str):
    return [int(module.num_visual_tokens(*args, **kwargs)) for args, kwargs in cases]


# ----------------------------------------------------------------------------- answering and training
def _reference_answers(module, model, images, questions, max_new_tokens: int, device: str) -> list[str]:
    """Trusted decoding, one question at a time, no padding, no cache: the learner's features and LM only."""
    answers = []
    lm = model.language_model
    with torch.no_grad():
        for image, question in zip(images, questions):
            feats = model.image_features(torch.tensor(image[None], dtype=torch.float32, device=device))
            words = torch.tensor([encode(question)], device=device)
            seq = torch.cat([feats, lm.embed_tokens(words)], dim=1)
            tokens = []
            for _ in range(max_new_tokens):
                token = int(lm(seq)[0][0, -1].argmax())
                tokens.append(token)
                if token == EOS_ID:
                    break
                seq = torch.cat([seq, lm.embed_tokens(torch.tensor([[token]], device=device))], dim=1)
            answers.append(decode(tokens))
    return answers


@one_cpu_thread()
def answers(module, images, questions, seed: int, *, device: str):
    """An untrained TinyVLM (the graded size): answers in one batch, one at a time, and the reference."""
    torch.manual_seed(seed)
    model = module.TinyVLM(len(VOCAB), **{**TINY, "image_size": 24, "patch_size": 8}, connector="mlp").to(device)
    model.eval()
    batch = list(module.answer_questions(model, images, list(questions)))
    alone = [module.answer_questions(model, images[i : i + 1], [q])[0] for i, q in enumerate(questions)]
    reference = _reference_answers(module, model, images, questions, 3, device)
    return {"batch": [str(a) for a in batch], "alone": [str(a) for a in alone], "reference": reference}


def _first_answer_words(model, images, questions, device: str) -> list[str]:
    """The word the model puts first after each prompt (all answers are one word), one forward, right padding."""
    rows = [[IMAGE_ID, *encode(q)] for q in questions]
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [PAD_ID] * (width - len(r)) for r in rows], device=device)
    out = []
    with torch.no_grad():
        for lo in range(0, len(rows), 128):
            x = torch.tensor(images[lo : lo + 128], dtype=torch.float32, device=device)
            logits = model(x, ids[lo : lo + 128])["logits"]
            mask = ids[lo : lo + 128] != PAD_ID
            n_image = logits.shape[1] - ids.shape[1] + 1
            last = mask.long().sum(1) - 1 + n_image - 1  # the last prompt slot after splicing
            picked = logits[torch.arange(len(last), device=device), last].argmax(-1)
            out += [VOCAB[int(i)] for i in picked]
    return out


def train_and_answer(module, seed: int, train_images, image_index, questions, answers_, test_images, test_questions,
                     shuffle, steps: int, stage1_steps: int, batch_size: int, lr: float, *, device: str):
    """Train with the learner's train_tiny_vlm, then the first answer word for held-out questions (images as
    given and shuffled across questions by `shuffle`); the grader holds the gold answers."""
    with one_cpu_thread():
        started, cpu = time.perf_counter(), time.process_time()
        model, losses = module.train_tiny_vlm(train_images, image_index, list(questions), list(answers_),
                                              steps=steps, stage1_steps=stage1_steps, batch_size=batch_size, lr=lr,
                                              seed=seed, device=device)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        model.eval()
        predicted = _first_answer_words(model, test_images, list(test_questions), device)
        shuffled = _first_answer_words(model, test_images[np.asarray(shuffle)], list(test_questions), device)
    return {"losses": _np(losses), "predicted": predicted, "shuffled": shuffled, "seconds": float(seconds),
            "cpu_seconds": float(cpu_seconds)}


class _VLMTrainingRecorder:
    """Watches train_tiny_vlm from outside: each TinyVLM forward (does every row feed its question's own image?)
    and each optimizer step (`GradientWatch`: fresh gradients, the parameters updated)."""

    def __init__(self, module, images, image_index, questions, answers_):
        images = np.ascontiguousarray(np.asarray(images, dtype=np.float32))
        rows: dict[bytes, int] = {}
        canonical = [rows.setdefault(row.tobytes(), i) for i, row in enumerate(images)]  # identical images: one id
        self.image_rows = rows
        # "<image> question answer <eos>", as the given build_prompts writes each training row
        self.pairs = {(canonical[int(i)], self._words(np.array([IMAGE_ID, *encode(q), *encode(a), EOS_ID])))
                      for i, q, a in zip(image_index, questions, answers_)}
        self.watch: GradientWatch | None = None
        self.models: set[int] = set()  # ids of the TinyVLMs that ran a forward
        self.pending = {"rows": 0, "unpaired": 0}
        self.first_unpaired: list = []
        original = self.original_forward = module.TinyVLM.forward
        recorder = self

        def forward(model, images, input_ids, *args, **kwargs):
            recorder._saw(model, images, input_ids)
            return original(model, images, input_ids, *args, **kwargs)

        module.TinyVLM.forward = forward
        self.module = module

    @staticmethod
    def _words(ids: np.ndarray) -> bytes:
        """A prompt's tokens without padding (left or right)."""
        return ids[ids != PAD_ID].tobytes()

    def _saw(self, model, images, input_ids) -> None:
        self.models.add(id(model))
        if self.watch is None:
            self.watch = GradientWatch(model, on_step=self._step)
        if model is not self.watch.model:
            return
        self.watch.hook_trainable()  # stage 2 unfreezes parameters
        x, ids = _np(images, np.float32), _np(input_ids, np.int64)
        for row, prompt in zip(x, ids):
            image = self.image_rows.get(np.ascontiguousarray(row).tobytes(), -1)
            if (image, self._words(prompt)) not in self.pairs:
                self.pending["unpaired"] += 1
                if not self.first_unpaired:
                    self.first_unpaired = [len(self.watch.steps) + 1, decode(prompt.tolist()), image]
        self.pending["rows"] += len(x)

    def _step(self) -> dict:
        step, self.pending = self.pending, {"rows": 0, "unpaired": 0}
        return step

    def close(self) -> None:
        self.module.TinyVLM.forward = self.original_forward
        if self.watch is not None:
            self.watch.close()

    def report(self) -> dict:
        steps = self.watch.steps if self.watch is not None else []
        part = lambda name: name.split(".")[0]  # noqa: E731 - vision_encoder, connector, language_model
        names = list(self.watch.names.values()) if self.watch is not None else []
        return {"step_rows": _np([s["rows"] for s in steps], np.int64),
                "step_unpaired": _np([s["unpaired"] for s in steps], np.int64),
                "step_cosine": _np([s["cosine"] for s in steps]), "step_grad_ratio": _np([s["ratio"] for s in steps]),
                "step_updated": [sorted({part(n) for n in s["updated"]}) for s in steps],
                "step_updated_count": _np([len(s["updated"]) for s in steps], np.int64),
                "part_sizes": {p: sum(part(n) == p for n in names) for p in ("vision_encoder", "connector",
                                                                             "language_model")},
                "models": len(self.models), "first_unpaired": [str(v) for v in self.first_unpaired]}


def watch_training(module, seed: int, train_images, image_index, questions, answers_, steps: int, stage1_steps: int,
                   batch_size: int, lr: float, *, device: str):
    """A short train_tiny_vlm run watched step by step (`_VLMTrainingRecorder`): per optimizer step, the rows fed
    and how many were unpaired, gradient freshness, and which parts (and how many parameters) were updated, with each
    part's parameter count, so the grader can tell stage 1's updates from stage 2's."""
    recorder = _VLMTrainingRecorder(module, train_images, image_index, questions, answers_)
    try:
        with one_cpu_thread():
            _, losses = module.train_tiny_vlm(train_images, image_index, list(questions), list(answers_), steps=steps,
                                              stage1_steps=stage1_steps, batch_size=batch_size, lr=lr, seed=seed,
                                              device=device)
    finally:
        recorder.close()
    return {"losses": _np(losses), **recorder.report()}
